using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>A mutator that writes documents and enqueues a job: both commit together or not at all, and a replay enqueues nothing new.</summary>
public sealed class MutatorJobTests : IAsyncLifetime
{
    private TestServer _server = null!;

    // Claims poll rarely here: only a wake-up can answer a waiting claim quickly.
    public async Task InitializeAsync() => _server = await TestServer.StartAsync(build: b =>
    {
        b.AddMutator("placeOrder", PlaceOrderAsync);
        b.Services.Configure<JobQueueOptions>(o => o.ClaimPollInterval = TimeSpan.FromSeconds(30));
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async ValueTask<JsonNode?> PlaceOrderAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var id = args.GetProperty("id").GetString()!;
        await context.PutAsync("orders", id, new JsonObject { ["status"] = "placed" }, cancellationToken: cancellationToken);
        context.EnqueueJob(new NewJob { Queue = "confirmations", Payload = $"{{\"order\":\"{id}\"}}", Lane = JobLane.High, IdempotencyKey = "confirm-" + id });
        if (args.TryGetProperty("refuse", out var refuse) && refuse.GetBoolean())
        {
            MutatorContext.Reject("out_of_stock", "Nothing left.");
        }
        return null;
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _server.Http.PostAsync(path, content);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private async Task<JsonObject> CountsAsync() => JsonNode.Parse(await _server.Http.GetStringAsync("/v1/queues/confirmations"))!.AsObject();

    [Fact]
    public async Task A_mutator_enqueues_a_job_with_its_writes_and_a_refused_or_replayed_call_enqueues_nothing()
    {
        var (placed, _) = await PostAsync("/v1/mutations", """{"name":"placeOrder","args":{"id":"o1"},"clientId":"shop-1","mid":1}""");
        Assert.Equal(HttpStatusCode.OK, placed);
        Assert.Equal(1, (long)(await CountsAsync())["ready"]!);

        // The same mutation again (a client retrying after a lost answer): the original result, no second job.
        var (replayed, _) = await PostAsync("/v1/mutations", """{"name":"placeOrder","args":{"id":"o1"},"clientId":"shop-1","mid":1}""");
        Assert.Equal(HttpStatusCode.OK, replayed);
        // A refused call writes neither the order nor the job.
        var (refused, problem) = await PostAsync("/v1/mutations", """{"name":"placeOrder","args":{"id":"o2","refuse":true}}""");
        Assert.Equal("mutation_rejected", (string?)problem["code"]);
        Assert.NotEqual(HttpStatusCode.OK, refused);
        using (var missing = await _server.Http.GetAsync("/v1/collections/orders/docs/o2"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        Assert.Equal(1, (long)(await CountsAsync())["ready"]!);

        var (_, claim) = await PostAsync("/v1/queues/confirmations/claim", """{"max":10}""");
        var job = Assert.Single(claim["jobs"]!.AsArray())!;
        Assert.Equal("""{"order":"o1"}""", job["payload"]!.ToJsonString());
        Assert.Equal("high", (string?)job["lane"]);
        Assert.Equal("confirm-o1", (string?)job["idempotencyKey"]);
    }

    [Fact]
    public async Task A_claim_waiting_on_an_empty_queue_is_woken_by_a_job_a_mutator_enqueued()
    {
        var waiting = PostAsync("/v1/queues/confirmations/claim", """{"max":1,"waitMs":20000}""");
        await Task.Delay(300); // the claim is waiting
        var started = DateTime.UtcNow;
        var (placed, _) = await PostAsync("/v1/mutations", """{"name":"placeOrder","args":{"id":"wake"}}""");
        Assert.Equal(HttpStatusCode.OK, placed);
        var (_, claim) = await waiting.WaitAsync(TimeSpan.FromSeconds(15)); // well before the 20 s wait or the 30 s poll
        var job = Assert.Single(claim["jobs"]!.AsArray())!;
        Assert.Equal("""{"order":"wake"}""", job["payload"]!.ToJsonString());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
    }
}
