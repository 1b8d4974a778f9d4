using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace Lockstep.Peers.Serve;

/// <summary>One change as the polling peer serves it.</summary>
internal sealed record FormChange(long Seq, string Id, string Field, string Value);

/// <summary>
/// The SQLite table a .NET team would hand-roll for forms: <c>forms(id, body JSON, version)</c>, plus, for the polling
/// peer only, a <c>changes</c> log with an autoincrement <c>seq</c> that its readers ask after. WAL and <c>synchronous=FULL</c>,
/// so every committed update is fsynced, like Lockstep's default. An update reads the JSON, sets the field and
/// writes it back in one <c>BEGIN IMMEDIATE</c> transaction on a pooled connection.
/// </summary>
internal sealed class FormStore
{
    private readonly string _connectionString;
    private readonly bool _logsChanges;

    /// <param name="logsChanges">Append each update to <c>changes</c> in its transaction (the polling peer); the hub broadcasts instead.</param>
    public FormStore(string dataDir, bool logsChanges)
    {
        _logsChanges = logsChanges;
        Directory.CreateDirectory(dataDir);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "forms.db"), Pooling = true }.ToString();
        using var connection = Open();
        Execute(connection, "PRAGMA journal_mode=WAL;");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS forms (id TEXT PRIMARY KEY, body TEXT NOT NULL, version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL);
            """);
        using var transaction = connection.BeginTransaction(deferred: false);
        for (var d = 0; d < FormWorkload.Documents; d++)
        {
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT OR IGNORE INTO forms (id, body, version) VALUES ($id, $body, 1)";
            insert.Parameters.AddWithValue("$id", FormWorkload.DocumentId(d));
            insert.Parameters.AddWithValue("$body", FormWorkload.NewForm(d).ToJsonString());
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Sets <paramref name="field"/> of form <paramref name="id"/>, durably: the change's seq (0 without the change log) and the form's new version, or null when there is no such form.</summary>
    public async Task<(long Seq, long Version)?> UpdateAsync(string id, string field, string value, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        // BEGIN IMMEDIATE: take the write lock before the read, so two updates of one form cannot interleave.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var read = connection.CreateCommand();
        read.Transaction = transaction;
        read.CommandText = "SELECT body, version FROM forms WHERE id = $id";
        read.Parameters.AddWithValue("$id", id);
        string body;
        long version;
        await using (var row = await read.ExecuteReaderAsync(cancellationToken))
        {
            if (!await row.ReadAsync(cancellationToken))
            {
                return null;
            }
            body = row.GetString(0);
            version = row.GetInt64(1);
        }
        var form = JsonNode.Parse(body)!.AsObject();
        form[field] = value;
        await using var write = connection.CreateCommand();
        write.Transaction = transaction;
        write.CommandText = _logsChanges
            ? """
              UPDATE forms SET body = $body, version = $version WHERE id = $id;
              INSERT INTO changes (id, field, value) VALUES ($id, $field, $value) RETURNING seq;
              """
            : "UPDATE forms SET body = $body, version = $version WHERE id = $id";
        write.Parameters.AddWithValue("$id", id);
        write.Parameters.AddWithValue("$body", form.ToJsonString());
        write.Parameters.AddWithValue("$version", version + 1);
        write.Parameters.AddWithValue("$field", field);
        write.Parameters.AddWithValue("$value", value);
        var seq = 0L;
        if (_logsChanges)
        {
            seq = (long)(await write.ExecuteScalarAsync(cancellationToken))!;
        }
        else
        {
            await write.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return (seq, version + 1);
    }

    /// <summary>Up to <paramref name="limit"/> changes after <paramref name="after"/>, oldest first.</summary>
    public async Task<List<FormChange>> ChangesAfterAsync(long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var read = connection.CreateCommand();
        read.CommandText = "SELECT seq, id, field, value FROM changes WHERE seq > $after ORDER BY seq LIMIT $limit";
        read.Parameters.AddWithValue("$after", after);
        read.Parameters.AddWithValue("$limit", limit);
        var changes = new List<FormChange>();
        await using var row = await read.ExecuteReaderAsync(cancellationToken);
        while (await row.ReadAsync(cancellationToken))
        {
            changes.Add(new FormChange(row.GetInt64(0), row.GetString(1), row.GetString(2), row.GetString(3)));
        }
        return changes;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // Per connection, not per database: a pooled connection keeps it, a new one needs it.
        Execute(connection, "PRAGMA synchronous=FULL;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
