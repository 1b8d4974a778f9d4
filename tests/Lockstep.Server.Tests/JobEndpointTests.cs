using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// The job queue API over raw HTTP, as a service in another language would use it. Alone in its collection:
/// the meter test counts every <c>Lockstep.Server</c> meter in the process, so no other test's server may
/// enqueue meanwhile.
/// </summary>
[Collection(nameof(ProcessMeters))]
public sealed class JobEndpointTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<(HttpStatusCode Status, JsonObject Body, string? ContentType)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _server.Http.PostAsync(path, content);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject(), response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await _server.Http.GetAsync(path);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task Enqueue_claim_and_complete_with_fencing_tokens_and_stable_error_codes()
    {
        var (status, job, _) = await PostAsync("/v1/queues/emails/jobs",
            """{"payload":{"to":"ana@example.com","n":[1,2]},"lane":"high","idempotencyKey":"welcome-ana","maxAttempts":3}""");
        Assert.Equal(HttpStatusCode.Created, status);
        var id = (long)job["id"]!;
        Assert.Equal("ready", (string?)job["state"]);
        Assert.Equal("high", (string?)job["lane"]);
        Assert.Equal("""{"to":"ana@example.com","n":[1,2]}""", job["payload"]!.ToJsonString());

        var (again, duplicate, _) = await PostAsync("/v1/queues/emails/jobs", """{"payload":{},"idempotencyKey":"welcome-ana"}""");
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(id, (long)duplicate["id"]!);
        Assert.True((bool)duplicate["duplicate"]!);

        var (bad, problem, type) = await PostAsync("/v1/queues/emails/jobs", """{"payload":1,"lane":"urgent"}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal("application/problem+json", type);
        Assert.Equal("invalid_request", (string?)problem["code"]);
        Assert.Equal("invalid_request", (string?)(await PostAsync("/v1/queues/emails/jobs", """{"lane":"high"}""")).Body["code"]);
        Assert.Equal("invalid_request", (string?)(await PostAsync("/v1/queues/bad%20name/jobs", """{"payload":1}""")).Body["code"]);

        var (_, claim, _) = await PostAsync("/v1/queues/emails/claim", """{"max":5,"leaseMs":60000}""");
        var leased = Assert.Single(claim["jobs"]!.AsArray())!.AsObject();
        Assert.Equal(id, (long)leased["id"]!);
        Assert.Equal("leased", (string?)leased["state"]);
        Assert.Equal(1, (long)leased["token"]!);
        Assert.Equal(1, (int)leased["attempts"]!);
        Assert.Equal(60000, (long)leased["leaseMs"]!);
        Assert.NotNull(leased["leaseExpiresAt"]);

        var (extended, extension, _) = await PostAsync($"/v1/jobs/{id}/extend", """{"token":1,"leaseMs":120000}""");
        Assert.Equal(HttpStatusCode.OK, extended);
        Assert.Equal(120000, (long)extension["leaseMs"]!);

        var (stale, lost, lostType) = await PostAsync($"/v1/jobs/{id}/complete", """{"token":2}""");
        Assert.Equal(HttpStatusCode.Conflict, stale);
        Assert.Equal("application/problem+json", lostType);
        Assert.Equal("lease_lost", (string?)lost["code"]);
        Assert.False((bool)lost["transient"]!);
        Assert.Equal("invalid_request", (string?)(await PostAsync($"/v1/jobs/{id}/complete", "{}")).Body["code"]);

        var (ok, done, _) = await PostAsync($"/v1/jobs/{id}/complete", """{"token":1}""");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal("done", (string?)done["state"]);
        Assert.Equal("lease_lost", (string?)(await PostAsync($"/v1/jobs/{id}/complete", """{"token":1}""")).Body["code"]);

        var (missing, notFound, _) = await PostAsync("/v1/jobs/999999/complete", """{"token":1}""");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("job_not_found", (string?)notFound["code"]);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/v1/jobs/999999")).Status);

        var (_, fetched) = await GetAsync($"/v1/jobs/{id}");
        Assert.Equal("done", (string?)fetched["state"]);
        Assert.NotNull(fetched["finishedAt"]);
        var (_, counts) = await GetAsync("/v1/queues/emails");
        Assert.Equal("""{"queue":"emails","ready":0,"leased":0,"done":1,"dead":0}""", counts.ToJsonString());
    }

    [Fact]
    public async Task A_failed_last_attempt_is_a_dead_letter_that_a_replay_brings_back()
    {
        var id = (long)(await PostAsync("/v1/queues/thumbs/jobs", """{"payload":"img-1","maxAttempts":2}""")).Body["id"]!;
        var first = (await PostAsync("/v1/queues/thumbs/claim", "{}")).Body["jobs"]![0]!;
        var (_, retry, _) = await PostAsync($"/v1/jobs/{id}/fail", """{"token":1,"error":"timeout","retryDelayMs":0}""");
        Assert.Equal("ready", (string?)retry["state"]);
        Assert.NotNull(retry["retryAt"]);
        Assert.Equal(1, (long)first["token"]!);

        var second = (await PostAsync("/v1/queues/thumbs/claim", "{}")).Body["jobs"]![0]!;
        Assert.Equal(2, (long)second["token"]!);
        Assert.Equal("lease_lost", (string?)(await PostAsync($"/v1/jobs/{id}/fail", """{"token":1,"error":"late"}""")).Body["code"]);
        var (_, dead, _) = await PostAsync($"/v1/jobs/{id}/fail", """{"token":2,"error":"corrupt image"}""");
        Assert.Equal("dead", (string?)dead["state"]);

        var (_, letters) = await GetAsync("/v1/queues/thumbs/dead");
        var letter = Assert.Single(letters["jobs"]!.AsArray())!;
        Assert.Equal(id, (long)letter["id"]!);
        Assert.Equal("corrupt image", (string?)letter["lastError"]);
        Assert.Equal(2, (int)letter["attempts"]!);
        Assert.Null(letters["next"]);
        Assert.Empty((await PostAsync("/v1/queues/thumbs/claim", "{}")).Body["jobs"]!.AsArray());

        Assert.Equal(1, (int)(await PostAsync("/v1/queues/thumbs/dead/replay", $$"""{"ids":[{{id}}]}""")).Body["replayed"]!);
        var replayed = (await PostAsync("/v1/queues/thumbs/claim", "{}")).Body["jobs"]![0]!;
        Assert.Equal(id, (long)replayed["id"]!);
        Assert.Equal(1, (int)replayed["attempts"]!);
        Assert.Equal(3, (long)replayed["token"]!);
        Assert.Equal("\"img-1\"", replayed["payload"]!.ToJsonString());
    }

    [Fact]
    public async Task Job_counters_are_published_on_the_lockstep_server_meter()
    {
        var counts = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Lockstep.Server" && instrument.Name.StartsWith("lockstep.jobs.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => counts.AddOrUpdate(instrument.Name, value, (_, n) => n + value));
        listener.Start();

        var id = (long)(await PostAsync("/v1/queues/metered/jobs", """{"payload":1,"maxAttempts":1}""")).Body["id"]!;
        await PostAsync("/v1/queues/metered/jobs", """{"payload":2}""");
        await PostAsync("/v1/queues/metered/claim", """{"max":2}""");
        await PostAsync($"/v1/jobs/{id}/fail", """{"token":1}""");
        await PostAsync($"/v1/jobs/{id + 1}/complete", """{"token":1}""");
        await PostAsync($"/v1/jobs/{id + 1}/complete", """{"token":1}""");
        await PostAsync("/v1/queues/metered/dead/replay", "{}");

        Assert.Equal(2, counts.GetValueOrDefault("lockstep.jobs.enqueued"));
        Assert.Equal(2, counts.GetValueOrDefault("lockstep.jobs.claimed"));
        Assert.Equal(1, counts.GetValueOrDefault("lockstep.jobs.dead"));
        Assert.Equal(1, counts.GetValueOrDefault("lockstep.jobs.completed"));
        Assert.Equal(1, counts.GetValueOrDefault("lockstep.jobs.lease_lost"));
        Assert.Equal(1, counts.GetValueOrDefault("lockstep.jobs.replayed"));
    }

    [Fact]
    public async Task A_waiting_claim_is_answered_when_a_job_is_enqueued_and_a_delayed_job_waits_its_turn()
    {
        var waiting = PostAsync("/v1/queues/late/claim", """{"waitMs":20000}""");
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        await PostAsync("/v1/queues/late/jobs", """{"payload":"now"}""");
        var (_, claimed, _) = await waiting.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("\"now\"", Assert.Single(claimed["jobs"]!.AsArray())!["payload"]!.ToJsonString());

        await PostAsync("/v1/queues/late/jobs", """{"payload":"later","delayMs":1000}""");
        Assert.Empty((await PostAsync("/v1/queues/late/claim", "{}")).Body["jobs"]!.AsArray());
        var (_, delayed, _) = await PostAsync("/v1/queues/late/claim", """{"waitMs":10000}""");
        Assert.Equal("\"later\"", Assert.Single(delayed["jobs"]!.AsArray())!["payload"]!.ToJsonString());
    }
}

/// <summary>Tests that count process-wide meters: they run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(ProcessMeters), DisableParallelization = true)]
public sealed class ProcessMeters;
