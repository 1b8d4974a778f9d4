using Lockstep.Core;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>A read of one consistent snapshot: a <c>REPEATABLE READ READ ONLY</c> transaction on a pooled connection.</summary>
internal sealed class PostgreSqlStoreReader : IStoreReader
{
    private const string ChangeColumns = "seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq";
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private bool _disposed;

    public PostgreSqlStoreReader(NpgsqlConnection connection, NpgsqlTransaction transaction, long head, long horizon)
    {
        _connection = connection;
        _transaction = transaction;
        Head = head;
        Horizon = horizon;
    }

    /// <summary>The head committed in this reader's snapshot.</summary>
    public long Head { get; }

    public long Horizon { get; }

    public async ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT version, seq, deleted, body, hlc FROM documents WHERE collection = $1 AND id = $2", collection, id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadDocument(reader, collection, id) : null;
    }

    public async ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string collection, string? afterId, int limit, bool includeDeleted, CancellationToken cancellationToken)
    {
        // The id column has the "C" collation, so > and ORDER BY are ordinal (the primary key's order).
        await using var command = Command(
            "SELECT version, seq, deleted, body, hlc, id FROM documents WHERE collection = $1 AND id > $2"
            + (includeDeleted ? "" : " AND NOT deleted")
            + " ORDER BY id LIMIT $3",
            collection, afterId ?? "", limit);
        var result = new List<StoredDocument>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(ReadDocument(reader, collection, reader.GetString(5)));
        }
        return result;
    }

    public async ValueTask<IReadOnlyList<Change>> ReadChangesAsync(long afterSeq, IReadOnlyCollection<string>? collections, int limit, CancellationToken cancellationToken)
    {
        if (collections is { Count: 0 })
        {
            return [];
        }
        // The "seq <= head" bound only restates the snapshot (nothing above its head is visible); it
        // keeps the reader's contract explicit, as in the SQLite store.
        await using var command = collections is null
            ? Command($"SELECT {ChangeColumns} FROM changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", afterSeq, Head, limit)
            : Command($"SELECT {ChangeColumns} FROM changes WHERE seq > $1 AND seq <= $2 AND collection = ANY($4) ORDER BY seq LIMIT $3",
                afterSeq, Head, limit, collections.ToArray());
        var result = new List<Change>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new Change
            {
                Seq = reader.GetInt64(0),
                Collection = reader.GetString(1),
                Id = reader.GetString(2),
                Version = reader.GetInt64(3),
                Deleted = reader.GetBoolean(4),
                Created = reader.GetBoolean(5),
                DocumentJson = reader.IsDBNull(6) ? null : reader.GetString(6),
                SetJson = reader.IsDBNull(7) ? null : reader.GetString(7),
                UnsetJson = reader.IsDBNull(8) ? null : reader.GetString(8),
                Hlc = HlcTimestamp.Parse(reader.GetString(9)),
                ClientId = reader.IsDBNull(10) ? null : reader.GetString(10),
                MutationNo = reader.IsDBNull(11) ? null : reader.GetInt64(11),
                PreviousSeq = reader.GetInt64(12),
            });
        }
        return result;
    }

    public async ValueTask<(bool Found, string? Json)> GetBodyAsync(long seq, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT body FROM changes WHERE seq = $1 AND seq <= $2", seq, Head);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return (false, null);
        }
        return (true, reader.IsDBNull(0) ? null : reader.GetString(0));
    }

    public async ValueTask<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT DISTINCT collection FROM documents WHERE NOT deleted ORDER BY collection");
        var result = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(reader.GetString(0));
        }
        return result;
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
            // Read only, so nothing to keep: disposing rolls the transaction back.
            await _transaction.DisposeAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection broke: the server ended the transaction with it.
        }
        finally
        {
            await _connection.DisposeAsync();
        }
    }

    private static StoredDocument ReadDocument(NpgsqlDataReader reader, string collection, string id) =>
        new(collection, id, reader.GetInt64(0), reader.GetInt64(1), reader.GetBoolean(2),
            reader.IsDBNull(3) ? null : reader.GetString(3), HlcTimestamp.Parse(reader.GetString(4)));

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
}
