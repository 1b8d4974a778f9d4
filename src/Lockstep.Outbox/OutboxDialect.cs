using System.Data.Common;

namespace Lockstep.Outbox;

/// <summary>
/// The SQL of the outbox in the two supported dialects. Keep in sync with docs/microservices.md
/// ("The outbox table") and the schema test in tests/Lockstep.Outbox.Tests.
/// </summary>
internal sealed class OutboxDialect
{
    /// <summary>
    /// The transaction-scoped advisory lock every PostgreSQL enqueue takes before its id is drawn
    /// (the ASCII of "LSOUTBOX"): it makes id order equal commit order.
    /// </summary>
    public const long PostgreSqlOrderLock = 0x4C534F5554424F58;

    public static readonly OutboxDialect Sqlite = new(
        isPostgreSql: false,
        createTable: """
            CREATE TABLE IF NOT EXISTS lockstep_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                mutation TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                state INTEGER NOT NULL DEFAULT 0,
                published_at INTEGER NULL,
                seq INTEGER NULL,
                error_code TEXT NULL,
                error_message TEXT NULL);
            CREATE INDEX IF NOT EXISTS lockstep_outbox_pending ON lockstep_outbox (id) WHERE state = 0;
            CREATE TABLE IF NOT EXISTS lockstep_outbox_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
            """);

    public static readonly OutboxDialect PostgreSql = new(
        isPostgreSql: true,
        createTable: """
            CREATE TABLE IF NOT EXISTS lockstep_outbox (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                mutation text NOT NULL,
                created_at bigint NOT NULL,
                state smallint NOT NULL DEFAULT 0,
                published_at bigint NULL,
                seq bigint NULL,
                error_code text NULL,
                error_message text NULL);
            CREATE INDEX IF NOT EXISTS lockstep_outbox_pending ON lockstep_outbox (id) WHERE state = 0;
            CREATE TABLE IF NOT EXISTS lockstep_outbox_meta (key text NOT NULL PRIMARY KEY, value text NOT NULL);
            """);

    private OutboxDialect(bool isPostgreSql, string createTable)
    {
        IsPostgreSql = isPostgreSql;
        CreateTable = createTable;
    }

    public bool IsPostgreSql { get; }

    public string CreateTable { get; }

    /// <summary>Serializes concurrent schema creation on PostgreSQL, where CREATE ... IF NOT EXISTS races.</summary>
    public string? SchemaLock => IsPostgreSql ? $"SELECT pg_advisory_xact_lock({PostgreSqlOrderLock})" : null;

    /// <summary>Taken by every enqueue before its id is drawn (PostgreSQL); SQLite's single writer gives the same order for free.</summary>
    public string? EnqueueLock => IsPostgreSql ? $"SELECT pg_advisory_xact_lock({PostgreSqlOrderLock})" : null;

    public static string InsertMeta => "INSERT INTO lockstep_outbox_meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING";

    public static string SelectMeta => "SELECT value FROM lockstep_outbox_meta WHERE key = @key";

    public static string Insert => "INSERT INTO lockstep_outbox (mutation, created_at) VALUES (@mutation, @created) RETURNING id";

    public static string SelectPending => "SELECT id, mutation FROM lockstep_outbox WHERE state = 0 AND id > @after ORDER BY id LIMIT @limit";

    /// <summary>A published row keeps the server's seq of the mutation in its column <c>seq</c>.</summary>
    public static string MarkPublished => "UPDATE lockstep_outbox SET state = 1, published_at = @now, seq = @server_seq WHERE id = @id AND state = 0";

    public static string MarkRefused => "UPDATE lockstep_outbox SET state = 2, published_at = @now, error_code = @error_code, error_message = @error_message WHERE id = @id AND state = 0";

    public static string SelectCreated => "SELECT created_at FROM lockstep_outbox WHERE id = @id";

    public static string DeletePublished => "DELETE FROM lockstep_outbox WHERE state = 1 AND published_at < @before";

    public static string SelectRefused => "SELECT id, mutation, created_at, published_at, error_code, error_message FROM lockstep_outbox WHERE state = 2 ORDER BY id LIMIT @limit";

    public static string CountPending => "SELECT COUNT(*) FROM lockstep_outbox WHERE state = 0";

    /// <summary>The dialect of a connection, by its ADO.NET provider (EF Core hands out the provider's own connection).</summary>
    public static OutboxDialect Of(DbConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection.GetType().FullName switch
        {
            "Microsoft.Data.Sqlite.SqliteConnection" or "System.Data.SQLite.SQLiteConnection" => Sqlite,
            "Npgsql.NpgsqlConnection" => PostgreSql,
            var other => throw new NotSupportedException($"The Lockstep outbox supports SQLite (Microsoft.Data.Sqlite) and PostgreSQL (Npgsql) connections, not {other}."),
        };
    }

    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        // Microsoft.Data.Sqlite refuses a command without the connection's open transaction.
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    public static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
