using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Server;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>
/// The seed's order saga against the real server: accept the order, reserve stock (a server-side
/// mutator that never oversells), charge a payment that fails at a rate, confirm — or compensate.
/// Many orders race for scarce stock while the runner running them dies and another resumes them.
/// </summary>
public sealed class SagaTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(build: b => b
        .AddMutator("reserve", ReserveAsync)
        .AddMutator("release", ReleaseAsync));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Reserves stock for an order once: a second call for the same order changes nothing; never below zero.</summary>
    private static async ValueTask<JsonNode?> ReserveAsync(MutatorContext context, JsonElement args, CancellationToken ct)
    {
        var order = args.GetProperty("order").GetString()!;
        var sku = args.GetProperty("sku").GetString()!;
        var quantity = args.GetProperty("quantity").GetInt32();
        var reservation = await context.GetAsync("reservations", order, ct);
        if (reservation is not null)
        {
            return (string?)reservation["status"] == "reserved" ? null : throw new MutationRejectedException("released", "The order was released.");
        }
        var available = (int?)(await context.GetAsync("inventory", sku, ct))?["available"] ?? 0;
        if (available < quantity)
        {
            MutatorContext.Reject("out_of_stock", $"{available} left of {sku}.");
        }
        await context.IncrementAsync("inventory", sku, "available", -quantity, ct);
        await context.PutAsync("reservations", order, new JsonObject { ["sku"] = sku, ["quantity"] = quantity, ["status"] = "reserved" }, cancellationToken: ct);
        return null;
    }

    /// <summary>Gives a reservation back once; marks a missing one released, so a late reserve cannot take stock after it.</summary>
    private static async ValueTask<JsonNode?> ReleaseAsync(MutatorContext context, JsonElement args, CancellationToken ct)
    {
        var order = args.GetProperty("order").GetString()!;
        var reservation = await context.GetAsync("reservations", order, ct);
        if (reservation is null)
        {
            await context.PutAsync("reservations", order, new JsonObject { ["status"] = "released" }, cancellationToken: ct);
        }
        else if ((string?)reservation["status"] == "reserved")
        {
            await context.IncrementAsync("inventory", (string)reservation["sku"]!, "available", (int)reservation["quantity"]!, ct);
            reservation["status"] = "released";
            await context.PutAsync("reservations", order, reservation, cancellationToken: ct);
        }
        return null;
    }

    private async Task CallAsync(string mutator, object args, CancellationToken ct)
    {
        var response = await _server.Http.PostAsJsonAsync("/v1/mutations", new { name = mutator, args }, ct);
        if (!response.IsSuccessStatusCode)
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
            throw new InvalidOperationException($"{mutator}: {(string?)problem?["code"]} {(string?)problem?["reason"]}");
        }
    }

    private async Task PutAsync(string collection, string id, object doc, bool onlyIfAbsent, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/{collection}/docs/{id}") { Content = JsonContent.Create(doc) };
        if (onlyIfAbsent)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", "*");
        }
        var response = await _server.Http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode && !(onlyIfAbsent && response.StatusCode == HttpStatusCode.PreconditionFailed))
        {
            throw new InvalidOperationException($"PUT {collection}/{id}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task Every_order_ends_completed_or_compensated_stock_never_goes_negative_and_no_payment_is_charged_twice_even_when_the_runner_dies()
    {
        const int Orders = 40;
        const int Stock = 15;
        var charges = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var random = new Random(11);
        var gate = new Lock();
        await PutAsync("inventory", "sku-1", new { available = Stock }, false, default);

        IReadOnlyList<SagaStep> steps =
        [
            new("accept", (s, ct) => PutAsync("orders", s.SagaId, new { status = "accepted" }, false, ct),
                (s, ct) => PutAsync("orders", s.SagaId, new { status = "cancelled" }, false, ct)),
            new("reserve", (s, ct) => CallAsync("reserve", new { order = s.SagaId, sku = "sku-1", quantity = 1 }, ct),
                (s, ct) => CallAsync("release", new { order = s.SagaId }, ct)),
            new("charge", async (s, ct) =>
            {
                bool fails;
                lock (gate)
                {
                    fails = random.NextDouble() < 0.3;
                }
                if (fails)
                {
                    throw new InvalidOperationException("card declined");
                }
                // The charge is a document created at most once per order: charging again changes nothing.
                using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/payments/docs/{s.SagaId}") { Content = JsonContent.Create(new { amount = 10, status = "charged" }) };
                request.Headers.TryAddWithoutValidation("If-None-Match", "*");
                var response = await _server.Http.SendAsync(request, ct);
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    charges.AddOrUpdate(s.SagaId, 1, (_, n) => n + 1);
                }
                else if (response.StatusCode != HttpStatusCode.PreconditionFailed)
                {
                    throw new InvalidOperationException("payments: " + (int)response.StatusCode);
                }
            }, async (s, ct) =>
            {
                var response = await _server.Http.GetAsync($"/v1/collections/payments/docs/{s.SagaId}", ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    await PutAsync("payments", s.SagaId, new { amount = 10, status = "refunded" }, false, ct);
                }
            }),
            new("confirm", (s, ct) => PutAsync("orders", s.SagaId, new { status = "completed" }, false, ct)),
        ];
        var options = new SagaOptions { Lease = TimeSpan.FromSeconds(1), PollInterval = TimeSpan.FromMilliseconds(100), MaxStepAttempts = 2, RetryDelay = TimeSpan.FromMilliseconds(10), Runner = "first" };
        await using var first = new SagaRunner(_server.HttpUrl, "order", steps, options);
        await first.StartAsync(default);
        var inFlight = 0;
        for (var i = 0; i < Orders; i++)
        {
            Assert.True(await first.StartSagaAsync("order-" + i, new JsonObject { ["customer"] = "c" + (i % 5) }));
        }
        Assert.False(await first.StartSagaAsync("order-0", new JsonObject())); // a trigger delivered twice starts it once

        // The first runner dies mid-way; a second one resumes whatever it left when its leases run out.
        await Harness.EventuallyAsync(() => Done().Result >= 5 && OwnedByFirst().Result >= 3, TimeSpan.FromSeconds(30), "some sagas ended and others in flight");
        first.Crash();
        inFlight = await OwnedByFirst();
        Assert.True(inFlight > 0, "the first runner died with sagas in flight");
        await using var second = new SagaRunner(_server.HttpUrl, "order", steps,
            new SagaOptions { Lease = TimeSpan.FromSeconds(1), PollInterval = TimeSpan.FromMilliseconds(100), MaxStepAttempts = 2, RetryDelay = TimeSpan.FromMilliseconds(10), Runner = "second" });
        await second.StartAsync(default);
        await Harness.EventuallyAsync(() => Done().Result == Orders, TimeSpan.FromSeconds(60), "every saga ended");

        var sagas = await Harness.ListAsync(_server.Http, "sagas");
        var completed = sagas.Where(s => (string?)s.Value["status"] == "completed").Select(s => s.Key).ToHashSet();
        var compensated = sagas.Where(s => (string?)s.Value["status"] == "compensated").Select(s => s.Key).ToHashSet();
        Assert.Equal(Orders, completed.Count + compensated.Count);
        Assert.InRange(completed.Count, 1, Stock);
        Assert.NotEmpty(compensated);
        Assert.Contains(sagas.Values, s => (string?)s["owner"] is null && (string?)s["error"] is not null);
        Assert.Contains(sagas.Values, s => (string?)s["endedBy"] == "first");
        Assert.Contains(sagas.Values, s => (string?)s["endedBy"] == "second");
        output.WriteLine($"{completed.Count} completed, {compensated.Count} compensated; {inFlight} owned by the first runner when it died, "
            + $"{sagas.Values.Count(s => (string?)s["endedBy"] == "second")} ended by the second");

        var inventory = (await Harness.GetAsync(_server.Http, "inventory", "sku-1"))!;
        Assert.Equal(Stock - completed.Count, (int)inventory["available"]!);
        var reservations = await Harness.ListAsync(_server.Http, "reservations");
        Assert.Equal(completed.OrderBy(x => x), reservations.Where(r => (string?)r.Value["status"] == "reserved").Select(r => r.Key).OrderBy(x => x));
        var payments = await Harness.ListAsync(_server.Http, "payments");
        Assert.Equal(completed.OrderBy(x => x), payments.Where(p => (string?)p.Value["status"] == "charged").Select(p => p.Key).OrderBy(x => x));
        Assert.All(charges.Values, n => Assert.Equal(1, n));
        var orders = await Harness.ListAsync(_server.Http, "orders");
        Assert.All(completed, id => Assert.Equal("completed", (string?)orders[id]["status"]));
        Assert.All(compensated, id => Assert.Equal("cancelled", (string?)orders[id]["status"]));

        async Task<int> OwnedByFirst() =>
            (await Harness.ListAsync(_server.Http, "sagas")).Count(s => (string?)s.Value["owner"] == "first" && (string?)s.Value["status"] is "running" or "compensating");

        async Task<int> Done() => (await Harness.ListAsync(_server.Http, "sagas")).Count(s => (string?)s.Value["status"] is "completed" or "compensated");
    }
}
