namespace Lockstep.Core.Jobs;

/// <summary>Job queues that several server nodes share (PostgreSQL): each node learns when another made a job claimable.</summary>
public interface ISharedJobStore : IJobStore
{
    /// <summary>
    /// Yields a queue's name each time some node enqueues or replays jobs in it. Only a hint:
    /// notifications may be lost or merged, so waiting claims must still look again now and then. Ends
    /// when the token fires; throws when the listening connection fails (the caller listens again).
    /// </summary>
    IAsyncEnumerable<string> WatchQueuesAsync(CancellationToken cancellationToken);
}
