using System.Net.Http.Json;
using Lockstep.Server.Tests;
using Npgsql;
using Xunit;

namespace Lockstep.Cluster.Tests;

/// <summary>Webhooks in a cluster: one node delivers under the lease; when it dies another takes over from the saved cursor.</summary>
public sealed class WebhookClusterTests
{
    [Fact]
    public async Task One_node_delivers_and_when_it_is_killed_another_continues_from_the_cursor_losing_nothing()
    {
        const string secret = "cluster webhook secret";
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        var environment = new Dictionary<string, string>
        {
            ["Lockstep__Webhooks__hook__Url"] = receiver.Url.ToString(),
            ["Lockstep__Webhooks__hook__Secret"] = secret,
            ["Lockstep__Webhooks__hook__Collections__0"] = "orders",
            ["Lockstep__Webhooks__hook__BatchSize"] = "5",
            ["Lockstep__Webhooks__hook__InitialBackoff"] = "00:00:00.050",
            ["Lockstep__ClusterHeartbeatInterval"] = "00:00:00.200",
        };
        await using var cluster = await Cluster.StartAsync(2, environment);
        using var http = new HttpClient();
        var seqs = new List<long>();
        async Task WriteAsync(ServerProcess node, string id)
        {
            var response = await http.PutAsJsonAsync(new Uri(node.HttpUrl, $"/v1/collections/orders/docs/{id}"), new { id });
            response.EnsureSuccessStatusCode();
            seqs.Add((long)(await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["seq"]!);
        }
        // Wait until one node holds the lease and has started the webhook (its cursor exists), so the writes below are after its start.
        var holder = await WaitForHolderAsync(cluster);
        await WaitForCursorAsync(cluster);
        for (var i = 0; i < 40; i++)
        {
            await WriteAsync(cluster.Node(i % 2), "a" + i);
        }
        await EventuallyAsync(() => receiver.Delivered.Count >= 40, "the first 40");

        var index = cluster.Nodes.FindIndex(n => n is not null && holder.Contains($":{n.Port}", StringComparison.Ordinal));
        Assert.True(index >= 0, "the lease holder is one of the nodes: " + holder);
        await cluster.KillAsync(index);
        var survivor = cluster.Node(1 - index);
        for (var i = 0; i < 40; i++)
        {
            await WriteAsync(survivor, "b" + i);
        }
        await EventuallyAsync(() => receiver.Delivered.Select(e => (long)e["seq"]!).Distinct().Count() >= 80, "all 80 after the failover", 30);
        var delivered = receiver.Delivered.Select(e => (long)e["seq"]!).ToList();
        // In order, nothing lost; a batch in flight when the holder died may come twice (at least once).
        Assert.Equal(seqs.Order(), delivered.Distinct());
        Assert.All(receiver.Requests, r => Assert.True(r.SignatureValid));
    }

    private static async Task<string> WaitForHolderAsync(Cluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        for (var i = 0; i < 200; i++)
        {
            await using var query = new NpgsqlCommand("SELECT n.url FROM leases l JOIN nodes n ON n.id = l.holder WHERE l.name = 'webhooks'", connection);
            if (await query.ExecuteScalarAsync() is string url)
            {
                return url;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("no node took the webhooks lease");
    }

    private static async Task WaitForCursorAsync(Cluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        for (var i = 0; i < 200; i++)
        {
            await using var query = new NpgsqlCommand("SELECT count(*) FROM documents WHERE collection = '_lockstep.webhooks'", connection);
            if ((long)(await query.ExecuteScalarAsync())! > 0)
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the webhook did not start");
    }

    private static async Task EventuallyAsync(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}
