namespace Lockstep.Core.Jobs;

/// <summary>The answer to an enqueue.</summary>
/// <param name="Job">The new job, or the existing one with the same idempotency key.</param>
/// <param name="Created">False when the idempotency key matched an existing job (nothing was enqueued).</param>
public sealed record EnqueueResult(JobRecord Job, bool Created);
