using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Xunit;

namespace Lockstep.Server.Tests;

public sealed class WriteTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        o => o.Collection("approvals", ConflictPolicy.Strict),
        b => b.AddMutator("reserveStock", ReserveStockAsync));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async ValueTask<JsonNode?> ReserveStockAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var sku = args.GetProperty("sku").GetString()!;
        var qty = args.GetProperty("qty").GetInt32();
        var item = await context.GetAsync("stock-" + args.GetProperty("run").GetString(), sku, cancellationToken)
            ?? throw new MutationRejectedException("unknown_sku", $"No stock item {sku}.");
        var available = (int)item["available"]!;
        if (available < qty)
        {
            MutatorContext.Reject("out_of_stock", $"Only {available} left of {sku}.");
        }
        await context.IncrementAsync("stock-" + args.GetProperty("run").GetString(), sku, "available", -qty, cancellationToken);
        await context.PutAsync("reservations-" + args.GetProperty("run").GetString(), Guid.NewGuid().ToString("N"), new JsonObject { ["sku"] = sku, ["qty"] = qty }, cancellationToken: cancellationToken);
        return new JsonObject { ["reserved"] = qty, ["left"] = available - qty };
    }

    [Fact]
    public async Task Patch_with_stale_version_returns_version_conflict_with_the_current_document()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync("w");
        await client.MutateAsync(Ops.Put(c, "d", new { a = 1 }));
        await client.MutateAsync(Ops.Patch(c, "d", new { a = 2 }));
        var error = await client.MutateAsync(Ops.Patch(c, "d", new { a = 3 }, ifVersion: 1));
        Assert.Equal("error", (string?)error["t"]);
        Assert.Equal("version_conflict", (string?)error["code"]);
        Assert.Equal(2, (long)error["current"]!["v"]!);
        Assert.Equal(2, (int)error["current"]!["doc"]!["a"]!);
        var ok = await client.MutateAsync(Ops.Patch(c, "d", new { a = 3 }, ifVersion: 2));
        Assert.Equal(3, (long)ok["results"]![0]!["v"]!);
    }

    [Fact]
    public async Task Strict_collection_requires_if_version_on_existing_documents()
    {
        await using var client = await _server.ConnectAsync("w");
        var id = Guid.NewGuid().ToString("N");
        var created = await client.MutateAsync(Ops.Put("approvals", id, new { status = "draft" }));
        Assert.Equal("ack", (string?)created["t"]);
        var blind = await client.MutateAsync(Ops.Patch("approvals", id, new { status = "approved" }));
        Assert.Equal("precondition_required", (string?)blind["code"]);
        var first = await client.MutateAsync(Ops.Patch("approvals", id, new { status = "approved" }, ifVersion: 1));
        var second = await client.MutateAsync(Ops.Patch("approvals", id, new { status = "rejected" }, ifVersion: 1));
        Assert.Equal("ack", (string?)first["t"]);
        Assert.Equal("version_conflict", (string?)second["code"]);
        Assert.Equal("approved", (string?)second["current"]!["doc"]!["status"]);
    }

    [Fact]
    public async Task A_batch_is_atomic_when_one_op_fails_nothing_is_written()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync("w");
        await client.MutateAsync(Ops.Put(c, "text", new { s = "hello" }));
        var headBefore = _server.Engine.Head;
        var error = await client.MutateAsync(
            Ops.Put(c, "first", new { n = 1 }),
            Ops.Inc(c, "text", "s", 1));
        Assert.Equal("invalid_operation", (string?)error["code"]);
        Assert.Equal(1, (int)error["op"]!);
        Assert.Equal(headBefore, _server.Engine.Head);
        var response = await _server.Http.GetAsync($"/v1/collections/{c}/docs/first");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);

        var ok = await client.MutateAsync(Ops.Put(c, "first", new { n = 1 }), Ops.Put(c, "second", new { n = 2 }));
        Assert.Equal(headBefore + 2, (long)ok["seq"]!);
    }

    [Fact]
    public async Task A_replayed_mutation_number_returns_the_original_result_and_writes_nothing()
    {
        var c = Ops.Unique();
        var clientId = "replayer-" + Guid.NewGuid().ToString("N");
        await using (var first = await _server.ConnectAsync(clientId))
        {
            var ack = await first.MutateAsync(7, Ops.Inc(c, "counter", "n", 5));
            Assert.Null(ack["dup"]);
            var failed = await first.MutateAsync(8, Ops.Delete(c, "missing"));
            Assert.Equal("not_found", (string?)failed["code"]);
            Assert.Null(failed["dup"]);
        }
        var head = _server.Engine.Head;
        await using var second = await _server.ConnectAsync(clientId);
        var replay = await second.MutateAsync(7, Ops.Inc(c, "counter", "n", 5));
        Assert.True((bool?)replay["dup"]);
        Assert.Equal(1, (long)replay["results"]![0]!["v"]!);
        var replayedError = await second.MutateAsync(8, Ops.Put(c, "missing", new { }));
        Assert.Equal("not_found", (string?)replayedError["code"]);
        Assert.Equal(0, (int)replayedError["op"]!);
        Assert.True((bool?)replayedError["dup"], "a replayed refusal says it is one: " + replayedError.ToJsonString());
        Assert.Equal(head, _server.Engine.Head);
        var doc = await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/counter");
        Assert.Equal(5, (int)JsonNode.Parse(doc)!["n"]!);
    }

    [Fact]
    public async Task The_same_mutation_number_sent_twice_at_once_applies_once()
    {
        var c = Ops.Unique();
        var clientId = "twice-" + Guid.NewGuid().ToString("N");
        await using var a = await _server.ConnectAsync(clientId);
        await using var b = await _server.ConnectAsync(clientId);
        var results = await Task.WhenAll(
            a.MutateAsync(1, Ops.Inc(c, "x", "n", 1)),
            b.MutateAsync(1, Ops.Inc(c, "x", "n", 1)));
        Assert.All(results, r => Assert.Equal("ack", (string?)r["t"]));
        Assert.Single(results, r => r["dup"] is null);
        var doc = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/x"))!;
        Assert.Equal(1, (int)doc["n"]!);
    }

    [Fact]
    public async Task Increments_from_many_clients_all_count()
    {
        var c = Ops.Unique();
        var clients = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => _server.ConnectAsync("inc" + i)));
        await Task.WhenAll(clients.Select(async cl =>
        {
            for (var i = 0; i < 20; i++)
            {
                await cl.MutateAsync(Ops.Inc(c, "counter", "n", 1));
            }
        }));
        var doc = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/counter"))!;
        Assert.Equal(200, (int)doc["n"]!);
        foreach (var cl in clients)
        {
            await cl.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stock_reservation_mutator_never_oversells_under_50_concurrent_clients()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        await using var admin = await _server.ConnectAsync("admin");
        await admin.MutateAsync(Ops.Put("stock-" + run, "sku-1", new { available = 100 }));
        var clients = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => _server.ConnectAsync($"buyer{i}-{run}")));
        var outcomes = await Task.WhenAll(clients.Select(async (cl, i) =>
        {
            var results = new List<JsonObject>();
            for (var k = 0; k < 4; k++)
            {
                results.Add(await cl.CallAsync("reserveStock", new { run, sku = "sku-1", qty = 1 + (i + k) % 3 }, mid: k + 1));
            }
            return results;
        }));
        var all = outcomes.SelectMany(r => r).ToList();
        var reserved = all.Where(r => (string?)r["t"] == "ack").Sum(r => (int)r["result"]!["reserved"]!);
        Assert.All(all.Where(r => (string?)r["t"] == "error"), r =>
        {
            Assert.Equal("mutation_rejected", (string?)r["code"]);
            Assert.Equal("out_of_stock", (string?)r["reason"]);
        });
        Assert.Contains(all, r => (string?)r["t"] == "error");
        var stock = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/stock-{run}/docs/sku-1"))!;
        var left = (int)stock["available"]!;
        Assert.True(left >= 0, $"stock went negative: {left}");
        Assert.Equal(100, reserved + left);
        var reservations = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/reservations-{run}/docs?limit=1000"))!["docs"]!.AsArray();
        Assert.Equal(reserved, reservations.Sum(r => (int)r!["doc"]!["qty"]!));
        foreach (var cl in clients)
        {
            await cl.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unknown_mutator_and_throwing_mutator_fail_with_their_codes()
    {
        await using var client = await _server.ConnectAsync("w");
        var unknown = await client.CallAsync("nope", new { });
        Assert.Equal("unknown_mutator", (string?)unknown["code"]);
        var missingSku = await client.CallAsync("reserveStock", new { run = "x", sku = "none", qty = 1 });
        Assert.Equal("mutation_rejected", (string?)missingSku["code"]);
        Assert.Equal("unknown_sku", (string?)missingSku["reason"]);
        var badArgs = await client.CallAsync("reserveStock", new { });
        Assert.Equal("mutator_failed", (string?)badArgs["code"]);
    }
}
