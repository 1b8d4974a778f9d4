using Lockstep.Core;
using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>One write transaction on the writer connection.</summary>
internal sealed class SqliteStoreWriter : IStoreWriter, Lockstep.Core.Jobs.IStoreJobWriter
{
    private readonly SqliteChangeStore _store;
    private readonly SqliteJobStore _jobs;
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _transaction;
    private readonly WriterCommands _commands;
    private long _appendedHead;
    private bool _committed;
    private bool _disposed;

    public SqliteStoreWriter(SqliteChangeStore store, SqliteJobStore jobs, SqliteConnection connection, SqliteTransaction transaction, WriterCommands commands, long head)
    {
        _store = store;
        _jobs = jobs;
        _connection = connection;
        _transaction = transaction;
        _commands = commands;
        Head = head;
        _appendedHead = head;
    }

    public long Head { get; }

    public ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var command = Bind(_commands.GetDocument);
        command.Parameters[0].Value = collection;
        command.Parameters[1].Value = id;
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return ValueTask.FromResult<StoredDocument?>(null);
        }
        return ValueTask.FromResult<StoredDocument?>(new StoredDocument(
            collection, id, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2) != 0,
            reader.IsDBNull(3) ? null : reader.GetString(3), HlcTimestamp.Parse(reader.GetString(4))));
    }

    public ValueTask<MutationRecord?> GetMutationAsync(string clientId, long mutationNo, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var command = Bind(_commands.GetMutation);
        command.Parameters[0].Value = clientId;
        command.Parameters[1].Value = mutationNo;
        using var reader = command.ExecuteReader();
        return ValueTask.FromResult(reader.Read() ? new MutationRecord(clientId, mutationNo, reader.GetInt64(0), reader.GetString(1)) : null);
    }

    public ValueTask<long> GetLastMutationNoAsync(string clientId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var command = Bind(_commands.GetLastMutationNo);
        command.Parameters[0].Value = clientId;
        return ValueTask.FromResult(command.ExecuteScalar() is long last ? last : 0);
    }

    public Lockstep.Core.Jobs.IStoreJobWriter Jobs => this;

    public ValueTask EnqueueJobsAsync(IReadOnlyList<Lockstep.Core.Jobs.NewJob> jobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        _jobs.InsertInBatch(_connection, _transaction, jobs);
        return ValueTask.CompletedTask;
    }

    public ValueTask AppendAsync(IReadOnlyList<Change> changes, IReadOnlyList<MutationRecord> mutations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(mutations);
        cancellationToken.ThrowIfCancellationRequested();
        var insert = Bind(_commands.InsertChange);
        var upsert = Bind(_commands.UpsertDocument);
        foreach (var change in changes)
        {
            if (change.Seq != _appendedHead + 1)
            {
                throw new InvalidOperationException($"Change seq {change.Seq} does not follow the head {_appendedHead}: the log must stay gapless.");
            }
            var hlc = change.Hlc.ToString();
            var p = insert.Parameters;
            p[0].Value = change.Seq;
            p[1].Value = change.Collection;
            p[2].Value = change.Id;
            p[3].Value = change.Version;
            p[4].Value = change.Deleted ? 1 : 0;
            p[5].Value = change.Created ? 1 : 0;
            p[6].Value = (object?)change.DocumentJson ?? DBNull.Value;
            p[7].Value = (object?)change.SetJson ?? DBNull.Value;
            p[8].Value = (object?)change.UnsetJson ?? DBNull.Value;
            p[9].Value = hlc;
            p[10].Value = (object?)change.ClientId ?? DBNull.Value;
            p[11].Value = change.MutationNo is { } no ? no : DBNull.Value;
            p[12].Value = change.PreviousSeq;
            insert.ExecuteNonQuery();

            var d = upsert.Parameters;
            d[0].Value = change.Collection;
            d[1].Value = change.Id;
            d[2].Value = change.Version;
            d[3].Value = change.Seq;
            d[4].Value = change.Deleted ? 1 : 0;
            d[5].Value = (object?)change.DocumentJson ?? DBNull.Value;
            d[6].Value = hlc;
            upsert.ExecuteNonQuery();
            _appendedHead = change.Seq;
        }
        var record = Bind(_commands.InsertMutation);
        foreach (var mutation in mutations)
        {
            record.Parameters[0].Value = mutation.ClientId;
            record.Parameters[1].Value = mutation.MutationNo;
            record.Parameters[2].Value = mutation.Seq;
            record.Parameters[3].Value = mutation.ResultJson;
            record.ExecuteNonQuery();
        }
        var head = Bind(_commands.SetHead);
        head.Parameters[0].Value = _appendedHead;
        head.ExecuteNonQuery();
        return ValueTask.CompletedTask;
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        await _transaction.CommitAsync(cancellationToken);
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            if (!_committed)
            {
                try
                {
                    await _transaction.RollbackAsync();
                }
                catch (Exception e) when (e is SqliteException or InvalidOperationException)
                {
                    // the transaction is already gone (SQLite rolls back on some errors by itself)
                }
            }
            await _transaction.DisposeAsync();
        }
        finally
        {
            _store.EndWrite(_committed ? _appendedHead : null);
        }
    }

    private SqliteCommand Bind(SqliteCommand command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        command.Transaction = _transaction;
        return command;
    }

    internal SqliteConnection Connection => _connection;
}
