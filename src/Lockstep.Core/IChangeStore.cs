namespace Lockstep.Core;

/// <summary>
/// The durable change log and the current state of every document. One writer at a time (the
/// sequencer) appends through <see cref="BeginWriteAsync"/>; any number of readers read consistent
/// snapshots through <see cref="BeginReadAsync"/>. Implementations: SQLite (embedded), PostgreSQL (cluster).
/// </summary>
public interface IChangeStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema and returns the log's current bounds. Call once before anything else.</summary>
    ValueTask<StoreStatus> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Starts the write transaction of one batch. Only one may be open at a time.</summary>
    ValueTask<IStoreWriter> BeginWriteAsync(CancellationToken cancellationToken);

    /// <summary>Starts a read of one consistent snapshot: everything up to <see cref="IStoreReader.Head"/> and nothing after.</summary>
    ValueTask<IStoreReader> BeginReadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Drops log entries with <c>seq &lt;= upToSeq</c> (documents stay), moving the horizon to
    /// <paramref name="upToSeq"/>. Idempotent-result records of mutations older than that go too.
    /// </summary>
    /// <returns>The number of log entries removed.</returns>
    ValueTask<long> CompactAsync(long upToSeq, CancellationToken cancellationToken);
}

/// <summary>The bounds of the log.</summary>
/// <param name="Head">The seq of the last committed change (0 for an empty log).</param>
/// <param name="Horizon">Changes with seq &lt;= this are no longer in the log (0 when nothing was compacted).</param>
public readonly record struct StoreStatus(long Head, long Horizon);

/// <summary>The stored outcome of a client mutation, so a replay returns the original result.</summary>
/// <param name="ClientId">The client.</param>
/// <param name="MutationNo">The client's mutation number.</param>
/// <param name="Seq">The log head after the mutation's changes (its last change's seq, or the head at the time when it wrote nothing).</param>
/// <param name="ResultJson">The reply the client got, as JSON (an ack or an error object).</param>
public sealed record MutationRecord(string ClientId, long MutationNo, long Seq, string ResultJson);

/// <summary>The write transaction of one batch. Disposing without <see cref="CommitAsync"/> rolls back.</summary>
public interface IStoreWriter : IAsyncDisposable
{
    /// <summary>The committed head when the transaction began; appended changes continue from it.</summary>
    long Head { get; }

    /// <summary>The current state of a document, including what this transaction appended; null when it never existed.</summary>
    ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken);

    /// <summary>The stored result of an earlier mutation with this (client, number), or null.</summary>
    ValueTask<MutationRecord?> GetMutationAsync(string clientId, long mutationNo, CancellationToken cancellationToken);

    /// <summary>The highest mutation number recorded for the client (0 when none), so that higher numbers need no lookup.</summary>
    ValueTask<long> GetLastMutationNoAsync(string clientId, CancellationToken cancellationToken);

    /// <summary>
    /// Appends changes (seqs must continue the head with no gap, in order), updates the documents they
    /// touch, and records mutation results.
    /// </summary>
    ValueTask AppendAsync(IReadOnlyList<Change> changes, IReadOnlyList<MutationRecord> mutations, CancellationToken cancellationToken);

    /// <summary>Commits durably (as durable as the store is configured to be).</summary>
    ValueTask CommitAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The job queues of this transaction, when the store has them: jobs enqueued through it commit with
    /// the transaction's changes or not at all. Null when the store has no job queues.
    /// </summary>
    /// <value>Null unless the implementation has queues.</value>
    Jobs.IStoreJobWriter? Jobs => null;

    /// <summary>
    /// What other writers committed after the head this transaction was asked about
    /// (<see cref="ISharedChangeStore.BeginWriteAsync(long, CancellationToken)"/>), read under the log lock.
    /// </summary>
    /// <value>
    /// Null when not asked (<see cref="IChangeStore.BeginWriteAsync"/>), or when the store could not read it
    /// whole (too many changes since, or compacted past them): the caller must then forget what it cached.
    /// </value>
    WrittenSince? WrittenSince => null;
}

/// <summary>A read of one consistent snapshot of the store.</summary>
public interface IStoreReader : IAsyncDisposable
{
    /// <summary>The last change visible to this read.</summary>
    long Head { get; }

    /// <summary>Changes at or below this seq are compacted away.</summary>
    long Horizon { get; }

    /// <summary>One document (tombstones included); null when it never existed.</summary>
    ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken);

    /// <summary>Documents of a collection ordered by id (ordinal), after <paramref name="afterId"/>, at most <paramref name="limit"/>.</summary>
    ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string collection, string? afterId, int limit, bool includeDeleted, CancellationToken cancellationToken);

    /// <summary>Changes with seq &gt; <paramref name="afterSeq"/>, in seq order, at most <paramref name="limit"/>, only of the given collections (all when null).</summary>
    ValueTask<IReadOnlyList<Change>> ReadChangesAsync(long afterSeq, IReadOnlyCollection<string>? collections, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// The document body a change left (its after image), by seq: found = false when that change is no
    /// longer (or never was) in the log; json = null when that change was a delete.
    /// </summary>
    ValueTask<(bool Found, string? Json)> GetBodyAsync(long seq, CancellationToken cancellationToken);

    /// <summary>The names of the collections that have at least one document.</summary>
    ValueTask<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken);
}
