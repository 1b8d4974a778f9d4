using Lockstep.Core.Jobs;

namespace Lockstep.Client.Jobs;

/// <summary>How to enqueue a job; every property is optional.</summary>
public sealed class JobEnqueueOptions
{
    /// <summary>The priority lane.</summary>
    /// <value><see cref="JobLane.Medium"/>.</value>
    public JobLane Lane { get; set; } = JobLane.Medium;

    /// <summary>How long after enqueueing the job becomes claimable.</summary>
    /// <value>Zero: at once.</value>
    public TimeSpan Delay { get; set; }

    /// <summary>When set, enqueuing again with the same key in the same queue returns the existing job (<see cref="JobInfo.Duplicate"/>).</summary>
    /// <value>None.</value>
    public string? IdempotencyKey { get; set; }

    /// <summary>How many leases the job may take before it becomes a dead letter.</summary>
    /// <value>None: the server's <c>Lockstep:Jobs:DefaultMaxAttempts</c> (5).</value>
    public int? MaxAttempts { get; set; }
}
