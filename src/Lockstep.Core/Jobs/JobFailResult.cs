namespace Lockstep.Core.Jobs;

/// <summary>The answer to a failure report.</summary>
/// <param name="Status">Whether the report was applied (the lease was still the job's newest).</param>
/// <param name="Dead">True when the job became a dead letter (its last attempt, or a final failure).</param>
/// <param name="RetryAt">When the job is claimable again, when it will be retried.</param>
public sealed record JobFailResult(JobUpdateStatus Status, bool Dead, DateTimeOffset? RetryAt);
