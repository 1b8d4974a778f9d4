namespace Lockstep.Core.Jobs;

/// <summary>
/// Durable job queues, kept in the same database as the change log but in tables of their own
/// (claiming is an indexed query, not a scan of the log). Delivery is at least once: a job is leased
/// to one worker at a time, and each lease carries a fencing token greater than every earlier
/// lease's, so an update under a stale lease is refused (<see cref="JobUpdateStatus.LeaseLost"/>)
/// instead of overwriting a newer worker's. Updates that find no lease are results, not exceptions.
/// Implemented by the SQLite store (one node) and the PostgreSQL store (several nodes share the queues).
/// </summary>
public interface IJobStore
{
    /// <summary>Adds a job, or returns the existing one when its idempotency key is taken in that queue.</summary>
    ValueTask<EnqueueResult> EnqueueAsync(NewJob job, CancellationToken cancellationToken);

    /// <summary>
    /// Leases up to <paramref name="maxCount"/> due jobs of <paramref name="queue"/> for
    /// <paramref name="leaseDuration"/>: ready jobs whose run time has come, and jobs whose lease expired
    /// (an expired lease counts as a failed attempt; when it was the last one the job becomes a dead
    /// letter instead). Lanes are chosen by <see cref="JobLaneSchedule"/>; within a lane, by id (FIFO).
    /// Each returned job has a new fencing token and one more attempt. Concurrent claims never return
    /// the same job twice under one lease.
    /// </summary>
    /// <returns>The leased jobs, high lane first, each lane in id order; empty when none is due.</returns>
    ValueTask<IReadOnlyList<JobRecord>> ClaimAsync(string queue, int maxCount, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>Marks a leased job done, when <paramref name="token"/> is still its newest lease.</summary>
    ValueTask<JobUpdateStatus> CompleteAsync(long id, long token, CancellationToken cancellationToken);

    /// <summary>
    /// Reports a failed attempt under the lease <paramref name="token"/>, with its error <paramref name="lastError"/>: the job is retried after
    /// <paramref name="backoff"/>'s delay for its attempt count, or becomes a dead letter when that
    /// was its last attempt or <paramref name="final"/> is true. <paramref name="retryDelay"/>, when
    /// set, replaces the backoff for this retry.
    /// </summary>
    ValueTask<JobFailResult> FailAsync(long id, long token, string lastError, JobBackoff backoff, TimeSpan? retryDelay, bool final, CancellationToken cancellationToken);

    /// <summary>Moves the end of a lease to now + <paramref name="leaseDuration"/>, when <paramref name="token"/> is still the job's newest lease.</summary>
    ValueTask<JobExtendResult> ExtendAsync(long id, long token, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>One job, or null.</summary>
    ValueTask<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken);

    /// <summary>The dead letters of a queue with id &gt; <paramref name="afterId"/>, in id order, at most <paramref name="limit"/>.</summary>
    ValueTask<IReadOnlyList<JobRecord>> ListDeadAsync(string queue, long afterId, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Makes dead letters of <paramref name="queue"/> ready again at once with their attempts reset to 0
    /// (all of them when <paramref name="ids"/> is null). They keep their id, so their FIFO place.
    /// </summary>
    /// <returns>How many were replayed.</returns>
    ValueTask<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken);

    /// <summary>The number of jobs of a queue in each state (indexed by <see cref="JobState"/>).</summary>
    ValueTask<long[]> CountJobsAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Deletes done jobs finished longer than <paramref name="olderThan"/> ago (which frees their idempotency keys).</summary>
    /// <returns>How many were deleted.</returns>
    ValueTask<long> PurgeDoneAsync(TimeSpan olderThan, CancellationToken cancellationToken);
}
