namespace Lockstep.Core;

/// <summary>
/// A change store that several server nodes share (PostgreSQL). Appends from all nodes are
/// serialized inside the store, so commit order equals seq order and a reader at "seq &gt; last"
/// never skips a change that commits late. On top of <see cref="IChangeStore"/> it offers what a
/// cluster needs: commit notifications, a node registry, and leases with fencing tokens.
/// </summary>
public interface ISharedChangeStore : IChangeStore
{
    /// <summary>
    /// Yields the log head each time some node reports a commit. Only a hint: notifications may be
    /// lost or merged, so readers must still read the log by position and poll. Ends when the token
    /// fires; throws when the listening connection fails (the caller reconnects).
    /// </summary>
    IAsyncEnumerable<long> WatchHeadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts a write transaction as <see cref="IChangeStore.BeginWriteAsync"/> does, and reads in it, under
    /// the log lock, what other nodes committed after <paramref name="knownHead"/> (the head after the
    /// caller's own last commit): <see cref="IStoreWriter.WrittenSince"/>. A sequencer that applies it to
    /// its document and mutation-number caches keeps them exact without reading each document again.
    /// </summary>
    ValueTask<IStoreWriter> BeginWriteAsync(long knownHead, CancellationToken cancellationToken);

    /// <summary>Records that <paramref name="node"/> is alive now (creating its row on first use).</summary>
    ValueTask HeartbeatAsync(ClusterNode node, CancellationToken cancellationToken);

    /// <summary>Removes a node's row (a clean shutdown).</summary>
    ValueTask LeaveAsync(string nodeId, CancellationToken cancellationToken);

    /// <summary>Every node that has sent a heartbeat and not left, with its last heartbeat time.</summary>
    ValueTask<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Tries to take the lease <paramref name="name"/> for <paramref name="holder"/>: null when another
    /// node holds it. A taken lease carries a fencing token greater than every earlier holder's.
    /// </summary>
    ValueTask<IStoreLease?> TryAcquireLeaseAsync(string name, string holder, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="IChangeStore.CompactAsync"/> under a lease: the store checks, in the same
    /// transaction, that the lease's fencing token is still the newest, and refuses with
    /// <see cref="LeaseLostException"/> (removing nothing) when another holder took it since.
    /// </summary>
    ValueTask<long> CompactAsync(long upToSeq, IStoreLease lease, CancellationToken cancellationToken);
}
