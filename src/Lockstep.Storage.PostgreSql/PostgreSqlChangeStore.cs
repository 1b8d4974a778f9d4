using System.Data;
using System.Globalization;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// The change log in a PostgreSQL database that several server nodes share. Appends from every node
/// are serialized inside the database: each write transaction first takes one advisory lock (the log
/// lock) and reads the head from the <c>log_head</c> row, and holds the lock until it commits, so
/// commit order equals seq order and "read everything with seq &gt; last" never skips a change that
/// commits late. Reads are <c>REPEATABLE READ READ ONLY</c> transactions: one snapshot each. It owns the
/// database (<see cref="PostgreSqlDatabase"/>: the data source, the schema) and composes over it the job
/// queues (<see cref="PostgreSqlJobStore"/>) and the cluster's registry and leases
/// (<see cref="PostgreSqlClusterStore"/>); the members of <see cref="ISharedJobStore"/> and the cluster's of
/// <see cref="ISharedChangeStore"/> hand over to them.
/// </summary>
public sealed class PostgreSqlChangeStore : ISharedChangeStore, ISharedJobStore
{
    private readonly string _synchronousCommit;
    private readonly string _lockTimeoutMs;
    private readonly string _idleInTransactionTimeoutMs;
    private readonly PostgreSqlDatabase _database;
    private readonly PostgreSqlJobStore _jobs;
    private readonly PostgreSqlClusterStore _cluster;

    /// <summary>Creates the store (checking the options); <see cref="OpenAsync"/> opens it.</summary>
    public PostgreSqlChangeStore(PostgreSqlStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // Parses the connection string now, so a typo fails at start-up rather than at the first write.
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "Lockstep";
        }
        _database = new PostgreSqlDatabase(builder.ConnectionString);
        _jobs = new PostgreSqlJobStore(_database);
        _cluster = new PostgreSqlClusterStore(_database);
        _synchronousCommit = SynchronousCommitName(options.SynchronousCommit);
        _lockTimeoutMs = ((long)options.LockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _idleInTransactionTimeoutMs = ((long)options.IdleInTransactionTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public async ValueTask<StoreStatus> OpenAsync(CancellationToken cancellationToken)
    {
        await _database.OpenAsync(cancellationToken);
        try
        {
            await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT head, horizon FROM log_head", connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new InvalidDataException("The log_head table has no row; the database was changed by hand.");
            }
            return new StoreStatus(reader.GetInt64(0), reader.GetInt64(1));
        }
        catch
        {
            await _database.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a write transaction: <c>READ COMMITTED</c>, the log lock, and the head read under it.
    /// Writers — in this process or on other nodes — wait for each other in the database, for at most
    /// <see cref="PostgreSqlStoreOptions.LockTimeout"/>.
    /// </summary>
    /// <returns>
    /// A writer whose <see cref="IStoreWriter.Head"/> is the committed head read under the lock: the last
    /// seq any node appended, which may be ahead of anything this process has seen. The sequencer above
    /// must number its changes from it (head + 1, …), never from a head it keeps in memory, and must
    /// not trust documents or mutation numbers it cached from earlier batches: another node may have
    /// changed them since (<see cref="BeginWriteAsync(long, CancellationToken)"/> says what changed).
    /// </returns>
    public ValueTask<IStoreWriter> BeginWriteAsync(CancellationToken cancellationToken) => BeginWriteCoreAsync(knownHead: null, cancellationToken);

    /// <summary>
    /// Starts a write transaction as <see cref="BeginWriteAsync(CancellationToken)"/> does and, in the same
    /// round trip, after the lock and the head, reads what was committed after <paramref name="knownHead"/>:
    /// the last change of each document changed since (its document row as that change left it) and, per
    /// client, the highest mutation number recorded at or after it. Then it reads the horizon: when that
    /// statement's horizon is still at or below <paramref name="knownHead"/>, so was the earlier one's
    /// (a horizon only grows), and a compaction, which deletes and moves the horizon in one transaction,
    /// had removed none of those changes. <see cref="IStoreWriter.WrittenSince"/> is null when the horizon
    /// passed <paramref name="knownHead"/>, or when more than <see cref="WrittenSinceMaxChanges"/> changes,
    /// or mutation records, or more than <see cref="WrittenSinceMaxBytes"/> of bodies were committed since
    /// (reading them all under the lock would cost every node more than forgetting).
    /// </summary>
    public ValueTask<IStoreWriter> BeginWriteAsync(long knownHead, CancellationToken cancellationToken) => BeginWriteCoreAsync(knownHead, cancellationToken);

    /// <summary>The most changes, or mutation records, since a writer's known head that <see cref="BeginWriteAsync(long, CancellationToken)"/> reads back.</summary>
    public const int WrittenSinceMaxChanges = 10_000;

    /// <summary>
    /// The most body bytes (UTF-8) of the changes since a writer's known head that
    /// <see cref="BeginWriteAsync(long, CancellationToken)"/> reads back: 16 MiB, a quarter of the
    /// sequencer's default document cache.
    /// </summary>
    public const long WrittenSinceMaxBytes = 16L << 20;

    // The size check reads the lengths only (octet_length does not detoast), before any body is sent.
    private const string DocumentsChangedSince = """
        SELECT DISTINCT ON (collection, id) collection, id, version, seq, deleted, body, hlc
        FROM changes
        WHERE seq > $1 AND (SELECT head FROM log_head) - $1 <= $2
          AND (SELECT coalesce(sum(octet_length(body)), 0) FROM changes WHERE seq > $1) <= $3
        ORDER BY collection, id, seq DESC
        """;

    // Last, so that a horizon at most the known head proves that nothing the statements before read was
    // compacted away in between (the byte count included).
    private const string HorizonAndBytesSince = """
        SELECT horizon, (SELECT coalesce(sum(octet_length(body)), 0)::bigint FROM changes WHERE seq > $1) FROM log_head
        """;

    // At most WrittenSinceMaxChanges + 1 records, and how many there were: refused mutations add records
    // without moving the head, so their number is not bounded by the changes since.
    private const string MutationNosSince = """
        SELECT client_id, max(mutation_no), (sum(count(*)) OVER ())::bigint
        FROM (SELECT client_id, mutation_no FROM mutations
              WHERE seq >= $1 AND (SELECT head FROM log_head) - $1 <= $2
              LIMIT $2 + 1) AS since
        GROUP BY client_id
        """;

    private async ValueTask<IStoreWriter> BeginWriteCoreAsync(long? knownHead, CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        NpgsqlTransaction? transaction = null;
        try
        {
            // Why READ COMMITTED, not REPEATABLE READ or SERIALIZABLE: those fix their snapshot at the
            // transaction's first statement, which is the lock request itself, so after waiting for
            // the lock they would not see the previous holder's commit (a stale head, then a
            // serialization failure on log_head). READ COMMITTED takes a new snapshot per statement,
            // and PostgreSQL makes a commit visible before it releases the committing transaction's
            // locks, so every statement after the lock sees everything committed before it. Since
            // every writer of the log holds the same lock, the writers run one after the other, which
            // is serializable in effect without serialization failures to retry.
            transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
            await using var batch = new NpgsqlBatch(connection, transaction);
            // For this transaction only (is_local = true), so a pooled connection keeps no trace; before
            // the lock, because lock_timeout bounds the wait for it.
            batch.BatchCommands.Add(Command(
                "SELECT set_config('synchronous_commit', $1, true), set_config('lock_timeout', $2, true), set_config('idle_in_transaction_session_timeout', $3, true)",
                _synchronousCommit, _lockTimeoutMs, _idleInTransactionTimeoutMs));
            // The lock and the head in separate statements, never one: a single statement's snapshot
            // would be taken before the lock is granted. The statements of a batch run one after
            // another (one round trip), each with its own snapshot.
            batch.BatchCommands.Add(Command("SELECT pg_advisory_xact_lock($1)", Schema.LogLockKey));
            batch.BatchCommands.Add(Command("SELECT head FROM log_head"));
            if (knownHead is { } known)
            {
                batch.BatchCommands.Add(Command(DocumentsChangedSince, known, (long)WrittenSinceMaxChanges, WrittenSinceMaxBytes));
                batch.BatchCommands.Add(Command(MutationNosSince, known, (long)WrittenSinceMaxChanges));
                batch.BatchCommands.Add(Command(HorizonAndBytesSince, known));
            }
            long head;
            WrittenSince? since = null;
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
            {
                await reader.NextResultAsync(cancellationToken);
                await reader.NextResultAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken))
                {
                    throw new InvalidDataException("The log_head table has no row; the database was changed by hand.");
                }
                head = reader.GetInt64(0);
                if (knownHead is { } after)
                {
                    since = await ReadWrittenSinceAsync(reader, after, head, cancellationToken);
                }
            }
            return new PostgreSqlStoreWriter(connection, transaction, head, since);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads the results of the statements <see cref="BeginWriteCoreAsync"/> added after the head; null when they are not whole.</summary>
    private static async Task<WrittenSince?> ReadWrittenSinceAsync(NpgsqlDataReader reader, long known, long head, CancellationToken cancellationToken)
    {
        var documents = new List<StoredDocument>();
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            documents.Add(new StoredDocument(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), HlcTimestamp.Parse(reader.GetString(6))));
        }
        var mutationNos = new Dictionary<string, long>(StringComparer.Ordinal);
        long records = 0;
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            mutationNos[reader.GetString(0)] = reader.GetInt64(1);
            records = reader.GetInt64(2);
        }
        await reader.NextResultAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidDataException("The log_head table has no row; the database was changed by hand.");
        }
        var horizon = reader.GetInt64(0);
        var bytes = reader.GetInt64(1);
        if (head < known || head - known > WrittenSinceMaxChanges || records > WrittenSinceMaxChanges || bytes > WrittenSinceMaxBytes || horizon > known)
        {
            return null;
        }
        return new WrittenSince(known, documents, mutationNos);
    }

    /// <inheritdoc />
    public async ValueTask<IStoreReader> BeginReadAsync(CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        NpgsqlTransaction? transaction = null;
        try
        {
            transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            await using var batch = new NpgsqlBatch(connection, transaction);
            // SET TRANSACTION takes no snapshot; the SELECT does, and head and horizon come from the
            // same snapshot as everything this reader reads after them. Appends commit in seq order
            // (see BeginWriteAsync), so the snapshot holds exactly the changes up to its head.
            batch.BatchCommands.Add(Command("SET TRANSACTION READ ONLY"));
            batch.BatchCommands.Add(Command("SELECT head, horizon FROM log_head"));
            long head;
            long horizon;
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
            {
                // SET returns no result set, so the reader starts on the SELECT's.
                if (!await reader.ReadAsync(cancellationToken))
                {
                    throw new InvalidDataException("The log_head table has no row; the database was changed by hand.");
                }
                head = reader.GetInt64(0);
                horizon = reader.GetInt64(1);
            }
            return new PostgreSqlStoreReader(connection, transaction, head, horizon);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Drops log entries and mutation records with <c>seq &lt;= upToSeq</c> (clamped to the head) and moves
    /// the horizon, in one transaction. Compactions on several nodes wait for each other; appends do
    /// not wait for a compaction, except for its final update of the <c>log_head</c> row.
    /// </summary>
    public ValueTask<long> CompactAsync(long upToSeq, CancellationToken cancellationToken) => CompactCoreAsync(upToSeq, fence: null, cancellationToken);

    private async ValueTask<long> CompactCoreAsync(long upToSeq, IStoreLease? fence, CancellationToken cancellationToken)
    {
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        // Not under the log lock: deleting a large range can take seconds, and every node's writes
        // would wait that long. It does not need it: appends only add seqs above the head, and a
        // compaction only removes seqs at or below it. The one row both write is log_head (head
        // there, horizon here); PostgreSQL's row lock orders those two updates, and READ COMMITTED
        // applies the second on top of the first, so neither is lost. The horizon update comes last
        // so that appends wait on that row lock for as short a time as possible.
        if (fence is not null)
        {
            await PostgreSqlClusterStore.CheckFenceAsync(connection, transaction, fence, cancellationToken);
        }
        long head;
        long horizon;
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Command("SELECT pg_advisory_xact_lock($1)", Schema.CompactionLockKey));
            batch.BatchCommands.Add(Command("SELECT head, horizon FROM log_head"));
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new InvalidDataException("The log_head table has no row; the database was changed by hand.");
            }
            head = reader.GetInt64(0);
            horizon = reader.GetInt64(1);
        }
        var upTo = Math.Min(upToSeq, head);
        if (upTo <= horizon)
        {
            return 0;
        }
        long removed;
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Command("DELETE FROM changes WHERE seq <= $1", upTo));
            batch.BatchCommands.Add(Command("DELETE FROM mutations WHERE seq <= $1", upTo));
            batch.BatchCommands.Add(Command("UPDATE log_head SET horizon = $1", upTo));
            await batch.ExecuteNonQueryAsync(cancellationToken);
            removed = batch.BatchCommands[0].RecordsAffected;
        }
        await transaction.CommitAsync(cancellationToken);
        return removed;
    }

    /// <inheritdoc />
    public ValueTask<long> CompactAsync(long upToSeq, IStoreLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return CompactCoreAsync(upToSeq, fence: lease, cancellationToken);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<long> WatchHeadAsync(CancellationToken cancellationToken) => _cluster.WatchHeadAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask HeartbeatAsync(ClusterNode node, CancellationToken cancellationToken) => _cluster.HeartbeatAsync(node, cancellationToken);

    /// <inheritdoc />
    public ValueTask LeaveAsync(string nodeId, CancellationToken cancellationToken) => _cluster.LeaveAsync(nodeId, cancellationToken);

    /// <summary>The nodes, with <see cref="ClusterNode.LastHeartbeat"/> translated from the database's clock to this machine's (by the heartbeat's age).</summary>
    public ValueTask<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken) => _cluster.ListNodesAsync(cancellationToken);

    /// <summary>
    /// Takes the lease's session advisory lock on a connection of its own; when granted, bumps the
    /// lease's fencing token in the <c>leases</c> row. The lock is held as long as that connection
    /// lives: when the holder dies, PostgreSQL ends its session and the lock is free for another.
    /// </summary>
    public ValueTask<IStoreLease?> TryAcquireLeaseAsync(string name, string holder, CancellationToken cancellationToken) =>
        _cluster.TryAcquireLeaseAsync(name, holder, cancellationToken);

    /// <inheritdoc />
    public ValueTask<EnqueueResult> EnqueueAsync(NewJob job, CancellationToken cancellationToken) => _jobs.EnqueueAsync(job, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<JobRecord>> ClaimAsync(string queue, int maxCount, TimeSpan leaseDuration, CancellationToken cancellationToken) =>
        _jobs.ClaimAsync(queue, maxCount, leaseDuration, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobUpdateStatus> CompleteAsync(long id, long token, CancellationToken cancellationToken) => _jobs.CompleteAsync(id, token, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobFailResult> FailAsync(long id, long token, string lastError, JobBackoff backoff, TimeSpan? retryDelay, bool final, CancellationToken cancellationToken) =>
        _jobs.FailAsync(id, token, lastError, backoff, retryDelay, final, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobExtendResult> ExtendAsync(long id, long token, TimeSpan leaseDuration, CancellationToken cancellationToken) =>
        _jobs.ExtendAsync(id, token, leaseDuration, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken) => _jobs.GetJobAsync(id, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<JobRecord>> ListDeadAsync(string queue, long afterId, int limit, CancellationToken cancellationToken) =>
        _jobs.ListDeadAsync(queue, afterId, limit, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken) => _jobs.ReplayAsync(queue, ids, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long[]> CountJobsAsync(string queue, CancellationToken cancellationToken) => _jobs.CountJobsAsync(queue, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> PurgeDoneAsync(TimeSpan olderThan, CancellationToken cancellationToken) => _jobs.PurgeDoneAsync(olderThan, cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<string> WatchQueuesAsync(CancellationToken cancellationToken) => _jobs.WatchQueuesAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _database.DisposeAsync();

    private static NpgsqlBatchCommand Command(string sql, params object[] values) => PostgreSqlDatabase.Command(sql, values);

    private static string SynchronousCommitName(PostgreSqlSynchronousCommit value) => value switch
    {
        PostgreSqlSynchronousCommit.Local => "local",
        PostgreSqlSynchronousCommit.Off => "off",
        _ => "on",
    };
}
