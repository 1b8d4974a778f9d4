using Lockstep.Core.Jobs;
using Xunit;

namespace Lockstep.Core.Tests;

public sealed class JobScheduleTests
{
    [Fact]
    public void Each_round_of_ten_claims_prefers_six_high_three_medium_one_low()
    {
        for (var start = 0L; start < 25; start++)
        {
            Assert.Equal([6, 3, 1], JobLaneSchedule.Plan(start, 10));
        }
        Assert.Equal(JobLane.High, JobLaneSchedule.PreferredLane(0));
        Assert.Equal(JobLane.Medium, JobLaneSchedule.PreferredLane(6));
        Assert.Equal(JobLane.Low, JobLaneSchedule.PreferredLane(9));
        Assert.Equal(JobLane.High, JobLaneSchedule.PreferredLane(10));
        Assert.Equal([1, 0, 0], JobLaneSchedule.Plan(0, 1));
        Assert.Equal([0, 1, 1], JobLaneSchedule.Plan(8, 2));
    }

    [Fact]
    public void Backoff_doubles_from_the_base_up_to_the_cap()
    {
        var backoff = new JobBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), 0);
        Assert.Equal(
            [1, 2, 4, 8, 10, 10],
            Enumerable.Range(1, 6).Select(a => backoff.DelayAfter(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(10), backoff.DelayAfter(1000));
    }

    [Fact]
    public void Jitter_stays_within_its_spread_and_under_the_cap()
    {
        var backoff = new JobBackoff(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(5), 0.5);
        for (var i = 0; i < 200; i++)
        {
            var first = backoff.DelayAfter(1);
            Assert.InRange(first.TotalSeconds, 2, 5);
            Assert.InRange(backoff.DelayAfter(3).TotalSeconds, 0, 5);
        }
    }
}
