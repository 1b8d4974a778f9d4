namespace Lockstep.Core.Jobs;

/// <summary>A job's priority lane. Stored as its number; never renumber.</summary>
public enum JobLane
{
    /// <summary>Served first: six claims of every ten prefer it (see <see cref="JobLaneSchedule"/>).</summary>
    High = 0,

    /// <summary>The default lane: three claims of every ten prefer it.</summary>
    Medium = 1,

    /// <summary>Served last, never starved: one claim of every ten prefers it.</summary>
    Low = 2,
}
