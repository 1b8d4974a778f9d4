using Lockstep.Core;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// One write transaction holding the log lock (see <see cref="PostgreSqlChangeStore.BeginWriteAsync(CancellationToken)"/>).
/// An append is one round trip whatever its size: the rows travel as arrays and <c>unnest</c> turns
/// them back into rows.
/// </summary>
internal sealed class PostgreSqlStoreWriter : IStoreWriter, Lockstep.Core.Jobs.IStoreJobWriter
{
    private const string InsertChanges = """
        INSERT INTO changes (seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::boolean[], $7::text[], $8::text[],
                             $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])
        """;

    private const string UpsertDocuments = """
        INSERT INTO documents (collection, id, version, seq, deleted, body, hlc)
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[], $6::text[], $7::text[])
        ON CONFLICT (collection, id) DO UPDATE
        SET version = excluded.version, seq = excluded.seq, deleted = excluded.deleted, body = excluded.body, hlc = excluded.hlc
        """;

    private const string InsertMutations = """
        INSERT INTO mutations (client_id, mutation_no, seq, result)
        SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
        """;

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private long _appendedHead;
    private bool _committed;
    private bool _disposed;

    public PostgreSqlStoreWriter(NpgsqlConnection connection, NpgsqlTransaction transaction, long head, WrittenSince? writtenSince)
    {
        _connection = connection;
        _transaction = transaction;
        Head = head;
        _appendedHead = head;
        WrittenSince = writtenSince;
    }

    /// <inheritdoc />
    public WrittenSince? WrittenSince { get; }

    /// <summary>
    /// The committed head read under the log lock, in this transaction: what every node has appended,
    /// not what this process last appended. Appended changes must continue from it; the sequencer above
    /// must take its next seq from here, never from a head it keeps in memory.
    /// </summary>
    public long Head { get; }

    internal NpgsqlConnection Connection => _connection;

    public async ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT version, seq, deleted, body, hlc FROM documents WHERE collection = $1 AND id = $2", collection, id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new StoredDocument(collection, id, reader.GetInt64(0), reader.GetInt64(1), reader.GetBoolean(2),
            reader.IsDBNull(3) ? null : reader.GetString(3), HlcTimestamp.Parse(reader.GetString(4)));
    }

    public async ValueTask<MutationRecord?> GetMutationAsync(string clientId, long mutationNo, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT seq, result FROM mutations WHERE client_id = $1 AND mutation_no = $2", clientId, mutationNo);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new MutationRecord(clientId, mutationNo, reader.GetInt64(0), reader.GetString(1)) : null;
    }

    public async ValueTask<long> GetLastMutationNoAsync(string clientId, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT max(mutation_no) FROM mutations WHERE client_id = $1", clientId);
        return await command.ExecuteScalarAsync(cancellationToken) is long last ? last : 0;
    }

    public async ValueTask AppendAsync(IReadOnlyList<Change> changes, IReadOnlyList<MutationRecord> mutations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(mutations);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var head = _appendedHead;
        foreach (var change in changes)
        {
            if (change.Seq != head + 1)
            {
                throw new InvalidOperationException($"Change seq {change.Seq} does not follow the head {head}: the log must stay gapless.");
            }
            head = change.Seq;
        }
        await using var batch = new NpgsqlBatch(_connection, _transaction);
        if (changes.Count > 0)
        {
            batch.BatchCommands.Add(ChangeRows(changes));
            batch.BatchCommands.Add(DocumentRows(changes));
        }
        if (mutations.Count > 0)
        {
            batch.BatchCommands.Add(MutationRows(mutations));
        }
        if (head != _appendedHead)
        {
            batch.BatchCommands.Add(PostgreSqlDatabase.Command("UPDATE log_head SET head = $1", head));
            // Delivered to listeners when (and only if) the transaction commits.
            batch.BatchCommands.Add(PostgreSqlDatabase.Command("SELECT pg_notify($1, $2)", Schema.NotifyChannel,
                head.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (batch.BatchCommands.Count == 0)
        {
            return;
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
        _appendedHead = head;
    }

    public Lockstep.Core.Jobs.IStoreJobWriter Jobs => this;

    public async ValueTask EnqueueJobsAsync(IReadOnlyList<Lockstep.Core.Jobs.NewJob> jobs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (jobs.Count == 0)
        {
            return;
        }
        await using var batch = new NpgsqlBatch(_connection, _transaction);
        PostgreSqlJobStore.AddToBatch(batch, jobs);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
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
                await _transaction.RollbackAsync();
            }
            await _transaction.DisposeAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection broke (idle_in_transaction_session_timeout, a failover) or the transaction
            // already ended: PostgreSQL rolled it back, and ending the session released the lock.
        }
        finally
        {
            await _connection.DisposeAsync();
        }
    }

    private NpgsqlCommand Command(string sql, params object[] values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var command = new NpgsqlCommand(sql, _connection, _transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        return command;
    }

    private static NpgsqlBatchCommand ChangeRows(IReadOnlyList<Change> changes)
    {
        var n = changes.Count;
        var seq = new long[n];
        var collection = new string[n];
        var id = new string[n];
        var version = new long[n];
        var deleted = new bool[n];
        var created = new bool[n];
        var body = new string?[n];
        var set = new string?[n];
        var unset = new string?[n];
        var hlc = new string[n];
        var client = new string?[n];
        var mutationNo = new long?[n];
        var previous = new long[n];
        for (var i = 0; i < n; i++)
        {
            var c = changes[i];
            seq[i] = c.Seq;
            collection[i] = c.Collection;
            id[i] = c.Id;
            version[i] = c.Version;
            deleted[i] = c.Deleted;
            created[i] = c.Created;
            body[i] = c.DocumentJson;
            set[i] = c.SetJson;
            unset[i] = c.UnsetJson;
            hlc[i] = c.Hlc.ToString();
            client[i] = c.ClientId;
            mutationNo[i] = c.MutationNo;
            previous[i] = c.PreviousSeq;
        }
        return PostgreSqlDatabase.Command(InsertChanges, seq, collection, id, version, deleted, created, body, set, unset, hlc, client, mutationNo, previous);
    }

    /// <summary>The documents' new state: one row per document, its last change in the batch (ON CONFLICT may touch a row only once per statement).</summary>
    private static NpgsqlBatchCommand DocumentRows(IReadOnlyList<Change> changes)
    {
        var last = new Dictionary<(string, string), Change>(changes.Count);
        foreach (var change in changes)
        {
            last[(change.Collection, change.Id)] = change;
        }
        var n = last.Count;
        var collection = new string[n];
        var id = new string[n];
        var version = new long[n];
        var seq = new long[n];
        var deleted = new bool[n];
        var body = new string?[n];
        var hlc = new string[n];
        var i = 0;
        foreach (var c in last.Values)
        {
            collection[i] = c.Collection;
            id[i] = c.Id;
            version[i] = c.Version;
            seq[i] = c.Seq;
            deleted[i] = c.Deleted;
            body[i] = c.DocumentJson;
            hlc[i] = c.Hlc.ToString();
            i++;
        }
        return PostgreSqlDatabase.Command(UpsertDocuments, collection, id, version, seq, deleted, body, hlc);
    }

    private static NpgsqlBatchCommand MutationRows(IReadOnlyList<MutationRecord> mutations)
    {
        var n = mutations.Count;
        var client = new string[n];
        var number = new long[n];
        var seq = new long[n];
        var result = new string[n];
        for (var i = 0; i < n; i++)
        {
            client[i] = mutations[i].ClientId;
            number[i] = mutations[i].MutationNo;
            seq[i] = mutations[i].Seq;
            result[i] = mutations[i].ResultJson;
        }
        return PostgreSqlDatabase.Command(InsertMutations, client, number, seq, result);
    }
}
