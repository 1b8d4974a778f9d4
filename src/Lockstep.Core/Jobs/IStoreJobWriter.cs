namespace Lockstep.Core.Jobs;

/// <summary>
/// The job queues of a store write transaction (<see cref="IStoreWriter.Jobs"/>): jobs enqueued here commit
/// with the transaction, so a batch's documents and the jobs its mutations asked for commit together or not at all.
/// </summary>
public interface IStoreJobWriter
{
    /// <summary>
    /// Adds the jobs to the write transaction. A job whose idempotency key its queue already has
    /// (committed, or earlier in this transaction) is skipped.
    /// </summary>
    ValueTask EnqueueJobsAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken);
}
