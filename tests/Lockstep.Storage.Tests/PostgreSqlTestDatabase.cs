using Npgsql;

namespace Lockstep.Storage.Tests;

/// <summary>
/// A database of its own for one test, on the throw-away PostgreSQL server named by
/// <c>LOCKSTEP_TEST_POSTGRES</c> (a superuser connection string), dropped when disposed. Without the
/// variable it throws, so the PostgreSQL tests fail loudly instead of passing without a database.
/// </summary>
internal sealed class PostgreSqlTestDatabase : IAsyncDisposable
{
    public const string Variable = "LOCKSTEP_TEST_POSTGRES";

    private readonly string _adminConnectionString;

    private PostgreSqlTestDatabase(string adminConnectionString, string name, string connectionString)
    {
        _adminConnectionString = adminConnectionString;
        Name = name;
        ConnectionString = connectionString;
    }

    public string Name { get; }

    /// <summary>Connects to this database, as the superuser.</summary>
    public string ConnectionString { get; }

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set, so the PostgreSQL store cannot be tested: run ./test.sh, which starts a throw-away PostgreSQL, "
                + $"or set {Variable} (eval \"$(tests/postgres/start.sh)\" does, and tests/postgres/stop.sh stops it).");

    public static async Task<PostgreSqlTestDatabase> CreateAsync()
    {
        var admin = AdminConnectionString;
        var name = "lockstep_test_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            try
            {
                // A linguistic default collation (where "a" < "B"), so a listing that forgot the
                // store's COLLATE "C" fails the ordinal-order tests instead of passing by luck.
                await ExecuteAsync(connection, $"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'");
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.SyntaxError or PostgresErrorCodes.FeatureNotSupported
                or PostgresErrorCodes.InvalidParameterValue)
            {
                // A server without ICU (or older than 15): the default collation will do.
                await ExecuteAsync(connection, $"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'");
            }
        }
        var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        return new PostgreSqlTestDatabase(admin, name, connectionString);
    }

    /// <summary>Runs one statement in this database and returns the first column of its first row.</summary>
    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = await OpenUnpooledAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>A connection to this database outside any pool (the database is dropped at the end).</summary>
    public async Task<NpgsqlConnection> OpenUnpooledAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        // FORCE ends sessions a failed test may have left behind.
        await ExecuteAsync(connection, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
