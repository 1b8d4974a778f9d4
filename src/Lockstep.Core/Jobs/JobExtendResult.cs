namespace Lockstep.Core.Jobs;

/// <summary>The answer to a lease extension.</summary>
/// <param name="Status">Whether the lease was extended.</param>
/// <param name="LeaseExpiresAt">The lease's new end, when extended.</param>
public sealed record JobExtendResult(JobUpdateStatus Status, DateTimeOffset? LeaseExpiresAt);
