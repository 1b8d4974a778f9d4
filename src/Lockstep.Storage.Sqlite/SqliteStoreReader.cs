using System.Text;
using Lockstep.Core;
using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>A read of one consistent snapshot (a deferred transaction on a pooled read-only connection).</summary>
internal sealed class SqliteStoreReader : IStoreReader
{
    private const string ChangeColumns = "seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq";
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _transaction;

    public SqliteStoreReader(SqliteConnection connection, SqliteTransaction transaction, long head, long horizon)
    {
        _connection = connection;
        _transaction = transaction;
        Head = head;
        Horizon = horizon;
    }

    public long Head { get; }

    public long Horizon { get; }

    public ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken)
    {
        using var command = Command("SELECT version, seq, deleted, body, hlc FROM documents WHERE collection = $c AND id = $id");
        command.Parameters.AddWithValue("$c", collection);
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        return ValueTask.FromResult(reader.Read() ? ReadDocument(reader, collection, id) : null);
    }

    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string collection, string? afterId, int limit, bool includeDeleted, CancellationToken cancellationToken)
    {
        using var command = Command(
            "SELECT version, seq, deleted, body, hlc, id FROM documents WHERE collection = $c AND id > $after"
            + (includeDeleted ? "" : " AND deleted = 0")
            + " ORDER BY id LIMIT $limit");
        command.Parameters.AddWithValue("$c", collection);
        command.Parameters.AddWithValue("$after", afterId ?? "");
        command.Parameters.AddWithValue("$limit", limit);
        var result = new List<StoredDocument>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            cancellationToken.ThrowIfCancellationRequested();
            result.Add(ReadDocument(reader, collection, reader.GetString(5)));
        }
        return ValueTask.FromResult<IReadOnlyList<StoredDocument>>(result);
    }

    public ValueTask<IReadOnlyList<Change>> ReadChangesAsync(long afterSeq, IReadOnlyCollection<string>? collections, int limit, CancellationToken cancellationToken)
    {
        if (collections is { Count: 0 })
        {
            return ValueTask.FromResult<IReadOnlyList<Change>>([]);
        }
        var sql = new StringBuilder("SELECT ").Append(ChangeColumns).Append(" FROM changes WHERE seq > $after AND seq <= $head");
        using var command = Command("");
        if (collections is not null)
        {
            sql.Append(" AND collection IN (");
            var i = 0;
            foreach (var collection in collections)
            {
                var name = "$c" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                sql.Append(i == 0 ? "" : ", ").Append(name);
                command.Parameters.AddWithValue(name, collection);
                i++;
            }
            sql.Append(')');
        }
        sql.Append(" ORDER BY seq LIMIT $limit");
#pragma warning disable CA2100 // Only parameter names are concatenated; every value is a parameter.
        command.CommandText = sql.ToString();
#pragma warning restore CA2100
        command.Parameters.AddWithValue("$after", afterSeq);
        command.Parameters.AddWithValue("$head", Head);
        command.Parameters.AddWithValue("$limit", limit);
        var result = new List<Change>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            cancellationToken.ThrowIfCancellationRequested();
            result.Add(new Change
            {
                Seq = reader.GetInt64(0),
                Collection = reader.GetString(1),
                Id = reader.GetString(2),
                Version = reader.GetInt64(3),
                Deleted = reader.GetInt64(4) != 0,
                Created = reader.GetInt64(5) != 0,
                DocumentJson = reader.IsDBNull(6) ? null : reader.GetString(6),
                SetJson = reader.IsDBNull(7) ? null : reader.GetString(7),
                UnsetJson = reader.IsDBNull(8) ? null : reader.GetString(8),
                Hlc = HlcTimestamp.Parse(reader.GetString(9)),
                ClientId = reader.IsDBNull(10) ? null : reader.GetString(10),
                MutationNo = reader.IsDBNull(11) ? null : reader.GetInt64(11),
                PreviousSeq = reader.GetInt64(12),
            });
        }
        return ValueTask.FromResult<IReadOnlyList<Change>>(result);
    }

    public ValueTask<(bool Found, string? Json)> GetBodyAsync(long seq, CancellationToken cancellationToken)
    {
        using var command = Command("SELECT body FROM changes WHERE seq = $seq AND seq <= $head");
        command.Parameters.AddWithValue("$seq", seq);
        command.Parameters.AddWithValue("$head", Head);
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return ValueTask.FromResult<(bool, string?)>((false, null));
        }
        return ValueTask.FromResult<(bool, string?)>((true, reader.IsDBNull(0) ? null : reader.GetString(0)));
    }

    public ValueTask<IReadOnlyList<string>> ListCollectionsAsync(CancellationToken cancellationToken)
    {
        using var command = Command("SELECT DISTINCT collection FROM documents WHERE deleted = 0 ORDER BY collection");
        var result = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            result.Add(reader.GetString(0));
        }
        return ValueTask.FromResult<IReadOnlyList<string>>(result);
    }

    private static StoredDocument ReadDocument(SqliteDataReader reader, string collection, string id) =>
        new(collection, id, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2) != 0,
            reader.IsDBNull(3) ? null : reader.GetString(3), HlcTimestamp.Parse(reader.GetString(4)));

    private SqliteCommand Command(string sql)
    {
        var command = _connection.CreateCommand();
        command.Transaction = _transaction;
#pragma warning disable CA2100 // Constant SQL; values are parameters.
        command.CommandText = sql;
#pragma warning restore CA2100
        return command;
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
