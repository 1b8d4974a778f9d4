using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Webhooks against a real HTTP receiver on loopback: order, signatures, retries, dead letters, the circuit breaker, restarts.</summary>
public sealed class WebhookTests
{
    private const string Secret = "webhook secret for the tests";

    private static Task<TestServer> StartAsync(Uri url, Action<WebhookOptions>? tune = null, string? dataDir = null)
    {
        dataDir ??= Path.Combine(Path.GetTempPath(), "lockstep-webhook-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        return TestServer.StartAsync(o =>
        {
            AuthFixture.Configure(o, dataDir);
            var hook = new WebhookOptions { Url = url, Secret = Secret, InitialBackoff = TimeSpan.FromMilliseconds(20), MaxBackoff = TimeSpan.FromMilliseconds(200) };
            hook.Collections.Add("orders");
            tune?.Invoke(hook);
            o.Webhooks["orders-hook"] = hook;
        }, dataDir: dataDir, open: false);
    }

    private static async Task<long> PutAsync(SyncClient client, string collection, string id, object doc)
    {
        var ack = await client.MutateAsync(Ops.Put(collection, id, doc));
        Assert.Equal("ack", (string?)ack["t"]);
        return (long)ack["seq"]!;
    }

    private static async Task<JsonObject?> ReadAsync(TestServer server, string collection, string id)
    {
        using var request = AuthFixture.Request(HttpMethod.Get, $"/v1/collections/{collection}/docs/{id}", AuthFixture.AdminKey);
        var response = await server.Http.SendAsync(request);
        return response.StatusCode == HttpStatusCode.OK ? JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject() : null;
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

    [Fact]
    public async Task Committed_changes_of_the_chosen_collections_arrive_in_order_in_signed_batches_and_the_cursor_follows()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var server = await StartAsync(receiver.Url);
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        var expected = new List<long>();
        for (var i = 0; i < 250; i++)
        {
            expected.Add(await PutAsync(client, "orders", "o" + i, new { n = i }));
            if (i % 10 == 0)
            {
                await PutAsync(client, "carts", "c" + i, new { n = i }); // not delivered: another collection
            }
        }
        await EventuallyAsync(() => receiver.Delivered.Count >= 250, "250 events");
        var delivered = receiver.Delivered;
        Assert.Equal(expected, delivered.Select(e => (long)e["seq"]!));
        Assert.All(delivered, e => Assert.Equal("orders", (string?)e["collection"]));
        Assert.Equal(7, (int?)delivered[7]["doc"]!["n"]);
        Assert.All(receiver.Requests, r => Assert.True(r.SignatureValid));
        Assert.All(receiver.Requests, r => Assert.InRange(r.Body["events"]!.AsArray().Count, 1, 100));
        Assert.All(receiver.Requests, r => Assert.Equal("orders-hook", (string?)r.Body["webhook"]));
        await EventuallyAsync(() => ReadAsync(server, SystemCollections.WebhookCursors, "orders-hook").Result?["seq"]?.GetValue<long>() >= expected[^1], "the cursor");
    }

    [Fact]
    public async Task A_failing_endpoint_is_retried_with_the_same_batch_until_it_accepts_and_order_is_kept()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        var failures = 3;
        receiver.Answer = _ => Interlocked.Decrement(ref failures) >= 0 ? 500 : 200;
        await using var server = await StartAsync(receiver.Url, h => h.MaxAttempts = 10);
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        var seqs = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            seqs.Add(await PutAsync(client, "orders", "r" + i, new { i }));
        }
        await EventuallyAsync(() => receiver.Delivered.Count >= 20, "20 events");
        var requests = receiver.Requests.ToList();
        Assert.Equal(500, requests[0].Status);
        Assert.Equal(requests[0].Delivery, requests[3].Delivery); // three refusals, then the same batch again
        Assert.Equal(seqs, receiver.Delivered.Select(e => (long)e["seq"]!));
    }

    [Fact]
    public async Task After_its_last_attempt_a_batch_is_dead_lettered_and_delivery_moves_on()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        receiver.Answer = body => body["events"]!.AsArray().Any(e => (string?)e!["id"] == "poison") ? 500 : 200;
        await using var server = await StartAsync(receiver.Url, h =>
        {
            h.MaxAttempts = 3;
            h.BatchSize = 1;
            h.CircuitBreakerFailures = 50;
        });
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        var before = await PutAsync(client, "orders", "fine-1", new { ok = true });
        var poison = await PutAsync(client, "orders", "poison", new { ok = false });
        var after = await PutAsync(client, "orders", "fine-2", new { ok = true });

        await EventuallyAsync(() => receiver.Delivered.Any(e => (string?)e["id"] == "fine-2"), "the change after the poison");
        Assert.Equal([before, after], receiver.Delivered.Select(e => (long)e["seq"]!));
        Assert.Equal(3, receiver.Requests.Count(r => r.Status == 500));
        var letter = await ReadAsync(server, SystemCollections.WebhookDeadLetters, $"orders-hook-{poison}-{poison}");
        Assert.NotNull(letter);
        Assert.Equal(3, (int?)letter["attempts"]);
        Assert.Equal("HTTP 500", (string?)letter["lastError"]);
        Assert.Equal(poison, (long?)letter["events"]![0]!["seq"]);
        Assert.Equal("poison", (string?)letter["events"]![0]!["id"]);
    }

    [Fact]
    public async Task A_dead_letter_is_sent_again_on_request_and_goes_once_accepted_and_the_state_of_delivery_is_shown()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        var refuse = true;
        receiver.Answer = body => Volatile.Read(ref refuse) && body["events"]!.AsArray().Any(e => (string?)e!["id"] == "poison") ? 500 : 200;
        await using var server = await StartAsync(receiver.Url, h =>
        {
            h.MaxAttempts = 2;
            h.BatchSize = 1;
            h.CircuitBreakerFailures = 50;
        });
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        var poison = await PutAsync(client, "orders", "poison", new { ok = false });
        var after = await PutAsync(client, "orders", "fine", new { ok = true });
        await EventuallyAsync(() => receiver.Delivered.Any(e => (string?)e["id"] == "fine"), "the change after the poison");
        var letter = $"orders-hook-{poison}-{poison}";
        Assert.NotNull(await ReadAsync(server, SystemCollections.WebhookDeadLetters, letter));

        using (var status = AuthFixture.Request(HttpMethod.Get, "/v1/webhooks", AuthFixture.AdminKey))
        {
            var hooks = JsonNode.Parse(await (await server.Http.SendAsync(status)).Content.ReadAsStringAsync())!["webhooks"]!.AsArray();
            var hook = Assert.Single(hooks)!;
            Assert.Equal("orders-hook", (string?)hook["name"]);
            Assert.True((long)hook["position"]! >= after);
        }
        using (var denied = AuthFixture.Request(HttpMethod.Get, "/v1/webhooks", AuthFixture.ReaderKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await server.Http.SendAsync(denied)).StatusCode);
        }

        // Still refused: the replay fails and the dead letter stays.
        using (var again = AuthFixture.Request(HttpMethod.Post, "/v1/webhooks/orders-hook/replay", AuthFixture.AdminKey, new { deadLetter = letter }))
        {
            var response = await server.Http.SendAsync(again);
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal("delivery_failed", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        }
        Assert.NotNull(await ReadAsync(server, SystemCollections.WebhookDeadLetters, letter));

        // Fixed: the replay delivers the change again, signed, and the dead letter goes.
        Volatile.Write(ref refuse, false);
        using (var replay = AuthFixture.Request(HttpMethod.Post, "/v1/webhooks/orders-hook/replay", AuthFixture.AdminKey, new { deadLetter = letter }))
        {
            var response = await server.Http.SendAsync(replay);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(1, (int?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["replayed"]);
        }
        Assert.Contains(receiver.Delivered, e => (long)e["seq"]! == poison && (string?)e["doc"]!["ok"]?.ToString() == "false");
        Assert.All(receiver.Requests, r => Assert.True(r.SignatureValid));
        Assert.Null(await ReadAsync(server, SystemCollections.WebhookDeadLetters, letter));
    }

    [Fact]
    public async Task An_open_circuit_stops_requests_to_a_dead_endpoint_until_its_break_is_over()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        receiver.Answer = _ => 503;
        await using var server = await StartAsync(receiver.Url, h =>
        {
            h.MaxAttempts = 1000;
            h.InitialBackoff = TimeSpan.FromMilliseconds(5);
            h.MaxBackoff = TimeSpan.FromMilliseconds(10);
            h.CircuitBreakerFailures = 3;
            h.CircuitBreakDuration = TimeSpan.FromSeconds(2);
        });
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        await PutAsync(client, "orders", "x", new { });
        await EventuallyAsync(() => receiver.Requests.Count >= 3, "the first failures");
        // Without the breaker, 5–10 ms backoffs would make well over a hundred requests in this second.
        await Task.Delay(1000);
        Assert.InRange(receiver.Requests.Count, 3, 4);
        receiver.Answer = _ => 200;
        await EventuallyAsync(() => receiver.Delivered.Count == 1, "delivery after the break", 10);
    }

    [Fact]
    public async Task Delivery_state_survives_a_server_restart_and_nothing_is_lost()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        var dataDir = Path.Combine(Path.GetTempPath(), "lockstep-webhook-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var seqs = new List<long>();
        await using (var server = await StartAsync(receiver.Url, h => h.BatchSize = 10, dataDir))
        {
            server.KeepData = true;
            await using var client = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
            for (var i = 0; i < 30; i++)
            {
                seqs.Add(await PutAsync(client, "orders", "a" + i, new { i }));
            }
            await EventuallyAsync(() => receiver.Delivered.Count >= 30, "the first 30");
            receiver.Answer = _ => 503; // the endpoint goes down; these wait in the log
            for (var i = 0; i < 30; i++)
            {
                seqs.Add(await PutAsync(client, "orders", "b" + i, new { i }));
            }
            await EventuallyAsync(() => receiver.Requests.Any(r => r.Status == 503), "a refused attempt");
        }
        receiver.Answer = _ => 200;
        await using (var restarted = await StartAsync(receiver.Url, h => h.BatchSize = 10, dataDir))
        {
            await EventuallyAsync(() => receiver.Delivered.Select(e => (long)e["seq"]!).Distinct().Count() >= 60, "all 60 after the restart");
        }
        var delivered = receiver.Delivered.Select(e => (long)e["seq"]!).ToList();
        Assert.Equal(seqs, delivered.Distinct());
        // At least once: the first 30 were confirmed before the restart and are not sent again.
        Assert.Equal(60, delivered.Count);
    }

    [Fact]
    public async Task System_collections_are_the_servers_alone()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        await using var server = await StartAsync(receiver.Url);
        await using var admin = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);
        var refused = await admin.MutateAsync(Ops.Put(SystemCollections.WebhookCursors, "orders-hook", new { seq = 0 }));
        Assert.Equal("forbidden", (string?)refused["code"]);
        await using var user = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.Jwt("u"));
        var sub = await user.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "s", ["collection"] = SystemCollections.WebhookCursors });
        Assert.Equal("forbidden", (string?)sub["code"]);
        using var read = AuthFixture.Request(HttpMethod.Get, $"/v1/collections/{SystemCollections.WebhookDeadLetters}/docs", AuthFixture.ReaderKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await server.Http.SendAsync(read)).StatusCode); // "read" covers user collections only
    }
}
