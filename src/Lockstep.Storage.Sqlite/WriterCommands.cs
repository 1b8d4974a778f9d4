using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>The writer connection's statements, prepared once and reused by every batch (the hot path).</summary>
internal sealed class WriterCommands : IDisposable
{
    public WriterCommands(SqliteConnection connection)
    {
        GetDocument = Create(connection, "SELECT version, seq, deleted, body, hlc FROM documents WHERE collection = $c AND id = $id", "$c", "$id");
        GetMutation = Create(connection, "SELECT seq, result FROM mutations WHERE client_id = $client AND mutation_no = $no", "$client", "$no");
        GetLastMutationNo = Create(connection, "SELECT MAX(mutation_no) FROM mutations WHERE client_id = $client", "$client");
        InsertChange = Create(connection,
            """
            INSERT INTO changes (seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq)
            VALUES ($seq, $c, $id, $version, $deleted, $created, $body, $set, $unset, $hlc, $client, $no, $prev)
            """,
            "$seq", "$c", "$id", "$version", "$deleted", "$created", "$body", "$set", "$unset", "$hlc", "$client", "$no", "$prev");
        UpsertDocument = Create(connection,
            """
            INSERT INTO documents (collection, id, version, seq, deleted, body, hlc) VALUES ($c, $id, $version, $seq, $deleted, $body, $hlc)
            ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, deleted = excluded.deleted, body = excluded.body, hlc = excluded.hlc
            """,
            "$c", "$id", "$version", "$seq", "$deleted", "$body", "$hlc");
        InsertMutation = Create(connection,
            "INSERT INTO mutations (client_id, mutation_no, seq, result) VALUES ($client, $no, $seq, $result)",
            "$client", "$no", "$seq", "$result");
        SetHead = Create(connection, "UPDATE meta SET value = $head WHERE key = 'head'", "$head");
    }

    public SqliteCommand GetDocument { get; }

    public SqliteCommand GetMutation { get; }

    public SqliteCommand GetLastMutationNo { get; }

    public SqliteCommand InsertChange { get; }

    public SqliteCommand UpsertDocument { get; }

    public SqliteCommand InsertMutation { get; }

    public SqliteCommand SetHead { get; }

    private static SqliteCommand Create(SqliteConnection connection, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }
        return command;
    }

    public void Dispose()
    {
        GetDocument.Dispose();
        GetMutation.Dispose();
        GetLastMutationNo.Dispose();
        InsertChange.Dispose();
        UpsertDocument.Dispose();
        InsertMutation.Dispose();
        SetHead.Dispose();
    }
}
