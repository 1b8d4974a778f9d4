namespace Lockstep.Core.Jobs;

/// <summary>
/// Which lane a claim serves. Claims of a queue are numbered (per store instance: per node); claim
/// number <c>k</c> prefers the lane of slot <c>k mod 10</c>: slots 0–5 high, 6–8 medium, 9 low. When
/// the preferred lane has no due job, the claim takes the first due job of the other lanes in the
/// order high, medium, low. So while every lane has due jobs, each ten consecutive claims take six
/// high, three medium and one low job: high is served first and most, and low is never starved. When
/// a lane is empty its slots go to the others, so no claim waits while any due job exists.
/// </summary>
public static class JobLaneSchedule
{
    /// <summary>The length of one round of slots.</summary>
    public const int Round = 10;

    /// <summary>The lane that claim number <paramref name="claim"/> prefers.</summary>
    public static JobLane PreferredLane(long claim) => (claim % Round) switch
    {
        < 6 => JobLane.High,
        < 9 => JobLane.Medium,
        _ => JobLane.Low,
    };

    /// <summary>How many of the claims numbered <paramref name="first"/> … <paramref name="first"/> + <paramref name="count"/> − 1 prefer each lane (indexed by lane).</summary>
    public static int[] Plan(long first, int count)
    {
        var plan = new int[3];
        for (var i = 0; i < count; i++)
        {
            plan[(int)PreferredLane(first + i)]++;
        }
        return plan;
    }
}
