namespace Lockstep.Core.Jobs;

/// <summary>A job as stored. Times are the store's clock (PostgreSQL: the database's; SQLite: the node's).</summary>
public sealed record JobRecord
{
    /// <summary>The job's id, assigned at enqueue: increasing, so it is also the FIFO order within a lane.</summary>
    public required long Id { get; init; }

    /// <summary>The queue.</summary>
    public required string Queue { get; init; }

    /// <summary>The priority lane.</summary>
    public required JobLane Lane { get; init; }

    /// <summary>Where the job is in its life.</summary>
    public required JobState State { get; init; }

    /// <summary>The payload JSON, as enqueued.</summary>
    public required string Payload { get; init; }

    /// <summary>The idempotency key, when it was enqueued with one.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>When the job is (or was) next claimable: enqueue time plus delay, or the time of its next retry.</summary>
    public required DateTimeOffset RunAt { get; init; }

    /// <summary>How many leases it has taken (the current one included).</summary>
    public required int Attempts { get; init; }

    /// <summary>How many leases it may take.</summary>
    public required int MaxAttempts { get; init; }

    /// <summary>The fencing token of its newest lease (0 before the first): strictly increasing with every lease.</summary>
    public required long Token { get; init; }

    /// <summary>When the current lease ends, while <see cref="State"/> is <see cref="JobState.Leased"/>.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>The error of its last failed attempt (or <c>lease expired</c>).</summary>
    public string? LastError { get; init; }

    /// <summary>When it was enqueued.</summary>
    public required DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>When it was completed or became a dead letter.</summary>
    public DateTimeOffset? FinishedAt { get; init; }
}
