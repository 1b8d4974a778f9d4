using System.Globalization;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>
/// The change log on an embedded SQLite file, used the way SQLite recommends for one writer and
/// many readers: WAL journal, one long-lived writer connection with prepared statements reused
/// across batches, <c>BEGIN IMMEDIATE</c> write transactions, and pooled read connections whose
/// deferred transactions see one consistent snapshot each. The job queues are a
/// <see cref="SqliteJobStore"/> on the same writer connection, which this store owns
/// (<see cref="SqliteWriteConnection"/>); the <see cref="IJobStore"/> members hand over to it.
/// </summary>
public sealed class SqliteChangeStore : IChangeStore, IJobStore
{
    private readonly SqliteStoreOptions _options;
    private readonly string _writeConnectionString;
    private readonly string _readConnectionString;
    private readonly SqliteWriteConnection _writer = new();
    private readonly SqliteJobStore _jobs;
    private long _head;
    private long _horizon;

    /// <summary>Creates the store; <see cref="OpenAsync"/> opens it.</summary>
    public SqliteChangeStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        _options = options;
        var full = System.IO.Path.GetFullPath(options.Path);
        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = (int)options.BusyTimeout.TotalSeconds,
        }.ToString();
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = true,
            DefaultTimeout = (int)options.BusyTimeout.TotalSeconds,
        }.ToString();
        _jobs = new SqliteJobStore(_writer, options.TimeProvider);
    }

    /// <summary>The database file.</summary>
    public string Path => _options.Path;

    /// <inheritdoc />
    public async ValueTask<StoreStatus> OpenAsync(CancellationToken cancellationToken)
    {
        if (_writer.IsOpen)
        {
            throw new InvalidOperationException("The store is already open.");
        }
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_options.Path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var synchronous = _options.Synchronous switch
            {
                SqliteSynchronous.Normal => "NORMAL",
                SqliteSynchronous.Off => "OFF",
                _ => "FULL",
            };
            var busy = ((long)_options.BusyTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            Execute(connection, $"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout={busy}; PRAGMA temp_store=MEMORY;");
            var existing = ScalarOrNull(connection, "SELECT value FROM meta WHERE key = 'schema_version'", tableMissingIsNull: true);
            if (existing is { } version && version > Schema.Version)
            {
                throw new InvalidDataException(
                    $"{_options.Path} has storage format version {version}; this Lockstep reads up to version {Schema.Version}. Upgrade Lockstep.");
            }
            using (var tx = connection.BeginTransaction())
            {
                Execute(connection, Schema.Create, tx);
                var from = ScalarOrNull(connection, "SELECT value FROM meta WHERE key = 'schema_version'", transaction: tx) ?? 1;
                for (var v = from; v < Schema.Version; v++)
                {
                    Execute(connection, Schema.Migrations[v - 1], tx);
                }
                Execute(connection, "UPDATE meta SET value = " + Schema.Version.ToString(CultureInfo.InvariantCulture) + " WHERE key = 'schema_version'", tx);
                tx.Commit();
            }
            _head = ScalarOrNull(connection, "SELECT value FROM meta WHERE key = 'head'") ?? 0;
            _horizon = ScalarOrNull(connection, "SELECT value FROM meta WHERE key = 'horizon'") ?? 0;
            _writer.Attach(connection);
            return new StoreStatus(_head, _horizon);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask<IStoreWriter> BeginWriteAsync(CancellationToken cancellationToken)
    {
        var connection = _writer.Connection;
        await _writer.EnterAsync(cancellationToken);
        try
        {
            var transaction = connection.BeginTransaction(deferred: false);
            return new SqliteStoreWriter(this, _jobs, connection, transaction, _writer.Commands, _head);
        }
        catch
        {
            _writer.Exit();
            throw;
        }
    }

    /// <summary>Called by a writer when its transaction ends: publishes the head on commit, frees the writer.</summary>
    internal void EndWrite(long? committedHead)
    {
        if (committedHead is { } head)
        {
            Volatile.Write(ref _head, head);
        }
        _writer.Exit();
    }

    /// <inheritdoc />
    public async ValueTask<IStoreReader> BeginReadAsync(CancellationToken cancellationToken)
    {
        if (!_writer.IsOpen)
        {
            throw new InvalidOperationException("Open the store first.");
        }
        var connection = new SqliteConnection(_readConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var transaction = connection.BeginTransaction(deferred: true);
            // The first read inside the deferred transaction fixes its snapshot: head and horizon
            // come from the same snapshot as everything read after them.
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "SELECT (SELECT value FROM meta WHERE key = 'head'), (SELECT value FROM meta WHERE key = 'horizon')";
            long head;
            long horizon;
            using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                head = reader.GetInt64(0);
                horizon = reader.GetInt64(1);
            }
            return new SqliteStoreReader(connection, transaction, head, horizon);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask<long> CompactAsync(long upToSeq, CancellationToken cancellationToken)
    {
        var connection = _writer.Connection;
        await _writer.EnterAsync(cancellationToken);
        try
        {
            var upTo = Math.Min(upToSeq, Volatile.Read(ref _head));
            if (upTo <= _horizon)
            {
                return 0;
            }
            using var tx = connection.BeginTransaction(deferred: false);
            using var command = SqliteWriteConnection.Command(connection, tx, "DELETE FROM changes WHERE seq <= $upTo");
            command.Parameters.AddWithValue("$upTo", upTo);
            long removed = await command.ExecuteNonQueryAsync(cancellationToken);
            command.CommandText = "DELETE FROM mutations WHERE seq <= $upTo";
            await command.ExecuteNonQueryAsync(cancellationToken);
            command.CommandText = "UPDATE meta SET value = $upTo WHERE key = 'horizon'";
            await command.ExecuteNonQueryAsync(cancellationToken);
            tx.Commit();
            _horizon = upTo;
            return removed;
        }
        finally
        {
            _writer.Exit();
        }
    }

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
    public async ValueTask DisposeAsync()
    {
        await _writer.DisposeAsync();
        using var clear = new SqliteConnection(_readConnectionString);
        SqliteConnection.ClearPool(clear);
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long? ScalarOrNull(SqliteConnection connection, string sql, bool tableMissingIsNull = false, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        try
        {
            return command.ExecuteScalar() is long value ? value : null;
        }
        catch (SqliteException) when (tableMissingIsNull)
        {
            return null;
        }
    }
}
