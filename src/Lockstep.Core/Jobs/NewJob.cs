namespace Lockstep.Core.Jobs;

/// <summary>A job to enqueue.</summary>
public sealed record NewJob
{
    /// <summary>The queue (a name by the collection rules: 1–64 ASCII letters, digits, <c>_ - .</c>).</summary>
    public required string Queue { get; init; }

    /// <summary>The payload, a JSON value as text, stored as written.</summary>
    public required string Payload { get; init; }

    /// <summary>The priority lane.</summary>
    public JobLane Lane { get; init; } = JobLane.Medium;

    /// <summary>When set, enqueuing another job with the same key in the same queue returns this one instead (until it is purged).</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>How long after enqueueing the job becomes claimable; zero for at once.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>How many leases the job may take; after the last one fails (or expires) it becomes a dead letter.</summary>
    public int MaxAttempts { get; init; } = 5;
}
