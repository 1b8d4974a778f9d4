using System.Text.Json.Nodes;
using Lockstep.Core.Jobs;

namespace Lockstep.Client.Jobs;

/// <summary>A job as the server describes it. Times are the server's (its database's) clock.</summary>
public sealed record JobInfo
{
    /// <summary>The job's id.</summary>
    public required long Id { get; init; }

    /// <summary>The queue.</summary>
    public required string Queue { get; init; }

    /// <summary>The priority lane.</summary>
    public required JobLane Lane { get; init; }

    /// <summary>Where the job is in its life.</summary>
    public required JobState State { get; init; }

    /// <summary>The payload.</summary>
    public JsonNode? Payload { get; init; }

    /// <summary>The idempotency key, when it has one.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Leases taken so far (the current one included).</summary>
    public required int Attempts { get; init; }

    /// <summary>Leases it may take.</summary>
    public required int MaxAttempts { get; init; }

    /// <summary>The fencing token of its newest lease: what complete, fail and extend must carry.</summary>
    public required long Token { get; init; }

    /// <summary>When it is (or was) next claimable.</summary>
    public DateTimeOffset RunAt { get; init; }

    /// <summary>When the current lease ends, while leased.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>The lease duration the claim was granted (claims only).</summary>
    public TimeSpan? Lease { get; init; }

    /// <summary>The error of the last failed attempt.</summary>
    public string? LastError { get; init; }

    /// <summary>When it was enqueued.</summary>
    public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>When it was completed or became a dead letter.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>True when an enqueue found an existing job with the same idempotency key (nothing new was enqueued).</summary>
    public bool Duplicate { get; init; }
}
