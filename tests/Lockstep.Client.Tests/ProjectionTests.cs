using System.Data.Common;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>
/// A projection builds the seed's <c>user_order_info</c> view from <c>users</c> and <c>orders</c> in a
/// SQLite file, with two members at once, and after a rebuild from the log it says the same again.
/// </summary>
public sealed class ProjectionTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>
    /// The sample's apply: users are mirrored, orders joined with their user's name; written so that
    /// the two collections may arrive in any order relative to each other.
    /// </summary>
    internal static async Task ApplyAsync(ConsumedChange change, DbTransaction tx, string users, CancellationToken ct)
    {
        if (change.Collection == users)
        {
            await ExecuteAsync(tx, change.Deleted
                ? "DELETE FROM users_mirror WHERE id = $id"
                : "INSERT INTO users_mirror (id, name) VALUES ($id, $name) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                ("$id", change.Id), ("$name", (string?)change.Document?["name"]));
            await ExecuteAsync(tx, "UPDATE user_order_info SET user_name = (SELECT name FROM users_mirror WHERE id = $id) WHERE user_id = $id", ("$id", change.Id));
            return;
        }
        if (change.Deleted)
        {
            await ExecuteAsync(tx, "DELETE FROM user_order_info WHERE order_id = $id", ("$id", change.Id));
            return;
        }
        var doc = change.Document!;
        await ExecuteAsync(tx,
            "INSERT INTO user_order_info (order_id, user_id, user_name, total, status) VALUES ($id, $user, (SELECT name FROM users_mirror WHERE id = $user), $total, $status) "
            + "ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id, user_name = excluded.user_name, total = excluded.total, status = excluded.status",
            ("$id", change.Id), ("$user", (string)doc["userId"]!), ("$total", (long)doc["total"]!), ("$status", (string)doc["status"]!));
    }

    private static async Task ExecuteAsync(DbTransaction tx, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var command = tx.Connection!.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Two_members_build_user_order_info_equal_to_the_sources_and_a_rebuild_from_the_log_says_the_same()
    {
        var users = Harness.Unique("users");
        var orders = Harness.Unique("orders");
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-projection-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var db = Path.Combine(dir, "readmodel.db");
        try
        {
            await using (var setup = new SqliteConnection($"Data Source={db}"))
            {
                await setup.OpenAsync();
                await using var command = setup.CreateCommand();
                command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE users_mirror (id TEXT PRIMARY KEY, name TEXT); "
                    + "CREATE TABLE user_order_info (order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, user_name TEXT, total INTEGER NOT NULL, status TEXT NOT NULL);";
                await command.ExecuteNonQueryAsync();
            }
            async Task<DbConnection> Open(CancellationToken ct)
            {
                var connection = new SqliteConnection($"Data Source={db};Default Timeout=30");
                await connection.OpenAsync(ct);
                return connection;
            }
            var applied = 0;
            LockstepProjection Member(string name)
            {
                var options = new ProjectionOptions
                {
                    Reset = async (tx, _) =>
                    {
                        await ExecuteAsync(tx, "DELETE FROM users_mirror");
                        await ExecuteAsync(tx, "DELETE FROM user_order_info");
                    },
                };
                options.Consumer.Member = name;
                options.Consumer.Partitions = 4;
                options.Consumer.Lease = TimeSpan.FromSeconds(2);
                return new LockstepProjection([_server.HttpUrl], "user_order_info-" + orders, [users, orders], Open,
                    (change, tx, ct) =>
                    {
                        Interlocked.Increment(ref applied);
                        return ApplyAsync(change, tx, users, ct);
                    }, options);
            }
            await using var a = Member("a");
            await using var b = Member("b");
            await a.StartAsync(default);
            await b.StartAsync(default);

            // Orders are written for users that exist and for users created only later; users are renamed; orders change and go.
            var random = new Random(5);
            for (var i = 0; i < 150; i++)
            {
                var user = "u" + random.Next(12);
                await Put(orders, "o" + i, new { userId = user, total = random.Next(1, 500), status = "placed" });
                if (i % 10 == 0)
                {
                    await Put(users, "u" + (i / 10), new { name = "User " + i });
                }
                if (i % 7 == 0 && i > 0)
                {
                    await Put(orders, "o" + (i - 1), new { userId = user, total = 42, status = "paid" });
                }
                if (i % 25 == 0 && i > 0)
                {
                    (await _server.Http.DeleteAsync($"/v1/collections/{orders}/docs/o{i - 3}")).EnsureSuccessStatusCode();
                    await Put(users, "u" + random.Next(12), new { name = "Renamed " + i });
                }
            }
            await Put(users, "u11", new { name = "Last" });

            var expected = await ExpectedAsync(users, orders);
            await Harness.EventuallyAsync(() => ReadModel(db) == expected, TimeSpan.FromSeconds(30), "the read model equal to the sources");
            Assert.Contains("Last", expected, StringComparison.Ordinal);

            // Rebuild from the log: emptied, then replayed under a new group, to the same answer.
            await b.StopAsync(default);
            var before = a.Group;
            var appliedBefore = Volatile.Read(ref applied);
            await a.RebuildAsync(default);
            Assert.NotEqual(before, a.Group);
            await Harness.EventuallyAsync(() => ReadModel(db) == expected, TimeSpan.FromSeconds(30), "the rebuilt read model equal to the sources");
            // It was replayed, not left alone: at least the newest version of every source document was applied again.
            var sources = (await Harness.ListAsync(_server.Http, users)).Count + (await Harness.ListAsync(_server.Http, orders)).Count;
            Assert.True(Volatile.Read(ref applied) - appliedBefore >= sources, $"{Volatile.Read(ref applied) - appliedBefore} applied in the rebuild, {sources} documents");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private async Task Put(string collection, string id, object doc) =>
        (await _server.Http.PutAsJsonAsync($"/v1/collections/{collection}/docs/{id}", doc)).EnsureSuccessStatusCode();

    /// <summary>What user_order_info must hold, from the sources' current documents, as sorted lines.</summary>
    private async Task<string> ExpectedAsync(string users, string orders)
    {
        var names = (await Harness.ListAsync(_server.Http, users)).ToDictionary(u => u.Key, u => (string?)u.Value["name"]);
        var lines = (await Harness.ListAsync(_server.Http, orders)).Select(o =>
        {
            var user = (string)o.Value["userId"]!;
            return $"{o.Key}|{user}|{names.GetValueOrDefault(user)}|{(long)o.Value["total"]!}|{(string)o.Value["status"]!}";
        });
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }

    private static string ReadModel(string db)
    {
        using var connection = new SqliteConnection($"Data Source={db};Default Timeout=30");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT order_id, user_id, user_name, total, status FROM user_order_info";
        using var reader = command.ExecuteReader();
        var lines = new List<string>();
        while (reader.Read())
        {
            lines.Add(string.Join('|', reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2),
                reader.GetInt64(3).ToString(CultureInfo.InvariantCulture), reader.GetString(4)));
        }
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }
}
