using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>The relay's bearer token against the real server with API keys configured.</summary>
public sealed class RealServerAuthenticationTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;

    public async Task InitializeAsync() => _database = await SqliteServiceDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    private static string NewKey() => "lsk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>The configured form of a key: its SHA-256 (what <c>lockstep apikey new</c> prints).</summary>
    private static string Hash(string key) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static JsonObject Key(string name, string key, string scope) =>
        new() { ["Name"] = name, ["Hash"] = Hash(key), ["Scopes"] = new JsonArray(scope) };

    [Fact]
    public async Task A_wrong_key_or_one_without_the_scope_halts_the_relay_without_marking_and_the_right_key_publishes()
    {
        var good = NewKey();
        var narrow = NewKey();
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-outbox-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var config = Path.Combine(dir, "lockstep.json");
            var keys = new JsonArray(Key("orders-outbox", good, "write:orders"), Key("invoices", narrow, "write:invoices"));
            await File.WriteAllTextAsync(config, new JsonObject { ["Lockstep"] = new JsonObject { ["Auth"] = new JsonObject { ["ApiKeys"] = keys } } }.ToJsonString());
            await using var server = await ServerProcess.StartAsync(Path.Combine(dir, "data"), null, "--config", config);
            await using var connection = await _database.OpenAsync();
            await Harness.PlaceOrderAsync(connection, new Outbox(), "orders", "o1", 1);

            foreach (var (key, code) in new[] { (NewKey(), "unauthorized"), (narrow, "forbidden") })
            {
                var options = Harness.Options(_database.DataSource, server);
                options.AccessToken = key;
                using var refused = new OutboxRelay(options);
                var halted = await Assert.ThrowsAsync<OutboxRelayException>(() => refused.PublishPendingAsync());
                Assert.Equal(code, halted.Code);
                Assert.Equal(1, await refused.CountPendingAsync()); // nothing marked: the row waits for a working key
                Assert.Empty(await refused.ListRefusedAsync());
            }
            var right = Harness.Options(_database.DataSource, server);
            right.AccessToken = good;
            using var relay = new OutboxRelay(right);
            Assert.Equal(new OutboxPublishSummary(1, 0, 0), await relay.PublishPendingAsync());
            Assert.Equal(0, await relay.CountPendingAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
