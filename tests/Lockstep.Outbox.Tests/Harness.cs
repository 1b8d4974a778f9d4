using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lockstep.Server.Tests;
using Microsoft.Data.Sqlite;

namespace Lockstep.Outbox.Tests;

/// <summary>A service's SQLite database in a temp directory of its own (WAL, as a service would run it), deleted when disposed.</summary>
internal sealed class SqliteServiceDatabase : IAsyncDisposable
{
    private SqliteServiceDatabase(string directory)
    {
        Directory = directory;
        Path = System.IO.Path.Combine(directory, "service.db");
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString();
        DataSource = SqliteFactory.Instance.CreateDataSource(ConnectionString);
    }

    public string Directory { get; }

    public string Path { get; }

    public string ConnectionString { get; }

    public DbDataSource DataSource { get; }

    /// <summary>Creates the file, the business table <c>orders(id, total)</c> and the outbox named <paramref name="name"/>.</summary>
    public static async Task<SqliteServiceDatabase> CreateAsync(string name = "orders-service")
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lockstep-outbox-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var database = new SqliteServiceDatabase(directory);
        await using var connection = await database.OpenAsync();
        await Harness.ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL; CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)");
        await OutboxSchema.EnsureCreatedAsync(connection, name);
        return database;
    }

    public async Task<SqliteConnection> OpenAsync()
    {
        var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        SqliteConnection.ClearAllPools();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>Reads of the real server and the outbox table, shared by the tests.</summary>
internal static class Harness
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static string NewCollection() => "c" + Guid.NewGuid().ToString("N")[..12];

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "lockstep-outbox-server-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static OutboxRelayOptions Options(DbDataSource dataSource, ServerProcess server, Outbox? outbox = null) =>
        Options(dataSource, server.HttpUrl, outbox);

    public static OutboxRelayOptions Options(DbDataSource dataSource, Uri serverRoot, Outbox? outbox = null) => new()
    {
        DataSource = dataSource,
        ServerUrl = new Uri(serverRoot, "/v1/"),
        Outbox = outbox,
        PollInterval = TimeSpan.FromMilliseconds(100),
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(300),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    public static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<long> ScalarAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>One order: the business row and an outbox row incrementing <c>{collection}/totals.count</c> and writing <c>{collection}/{id}</c>, in one transaction.</summary>
    public static async Task<long> PlaceOrderAsync(DbConnection connection, Outbox outbox, string collection, string id, int total)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await ExecuteAsync(connection, transaction, "INSERT INTO orders (id, total) VALUES (@id, @total)", ("id", id), ("total", total));
        var mid = await outbox.EnqueueAsync(transaction, [
            OutboxOp.Put(collection, id, new() { ["total"] = total }),
            OutboxOp.Increment(collection, "totals", "count", 1),
        ]);
        await transaction.CommitAsync();
        return mid;
    }

    /// <summary>A numeric field of a document on the server, or null when the document does not exist.</summary>
    public static async Task<decimal?> ReadNumberAsync(ServerProcess server, string collection, string id, string field)
    {
        using var response = await GetAsync(server, $"/v1/collections/{collection}/docs/{id}");
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.TryGetProperty(field, out var value) ? value.GetDecimal() : null;
    }

    /// <summary>Every change of <paramref name="collection"/> in the log, in seq order: (id, clientId, mid).</summary>
    public static async Task<List<(string Id, string? ClientId, long Mid)>> ReadChangesAsync(ServerProcess server, string collection)
    {
        using var response = await GetAsync(server, $"/v1/changes?after=0&limit=10000&collections={collection}");
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var list = new List<(string, string?, long)>();
        foreach (var change in doc.RootElement.GetProperty("changes").EnumerateArray())
        {
            list.Add((change.GetProperty("id").GetString()!,
                change.TryGetProperty("clientId", out var c) ? c.GetString() : null,
                change.TryGetProperty("mid", out var m) ? m.GetInt64() : 0));
        }
        return list;
    }

    /// <summary>A GET that waits out the server's rate limit (some tests run it tight).</summary>
    public static async Task<HttpResponseMessage> GetAsync(ServerProcess server, string pathAndQuery)
    {
        using var http = new HttpClient { BaseAddress = server.HttpUrl };
        while (true)
        {
            var response = await http.GetAsync(new Uri(pathAndQuery, UriKind.Relative));
            if (response.StatusCode != System.Net.HttpStatusCode.TooManyRequests)
            {
                return response;
            }
            response.Dispose();
            await Task.Delay(200);
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails after <see cref="Patience"/> (a hang, not a slow run).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > Patience)
            {
                throw new TimeoutException("Never happened: " + what);
            }
            await Task.Delay(50);
        }
    }
}
