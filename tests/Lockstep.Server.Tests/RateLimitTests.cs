using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Per-client token buckets with an interactive reserve that bulk sync may not use.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private TestServer _server = null!;

    // 20 tokens, refilled at 1 per second: a test that spends them sees refusals even on a slow machine.
    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.RateLimitPerSecond = 1;
        o.RateLimitBurst = 20;
        o.RateLimitInteractiveReserve = 0.5;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_client_over_its_rate_is_refused_with_rate_limited_and_other_clients_are_not()
    {
        var c = Ops.Unique();
        await using var busy = await _server.ConnectAsync(Ops.Unique());
        var replies = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => busy.MutateAsync(Ops.Put(c, "b" + i, new { i }))));
        var refused = replies.Count(r => (string?)r["code"] == "rate_limited");
        Assert.InRange(refused, 12, 20);
        Assert.All(replies, r => Assert.True((string?)r["t"] == "ack" || (string?)r["code"] == "rate_limited", r.ToJsonString()));

        await using var calm = await _server.ConnectAsync(Ops.Unique());
        Assert.Equal("ack", (string?)(await calm.MutateAsync(Ops.Put(c, "calm", new { n = 1 })))["t"]);

        // A refused write wrote nothing: every document that exists was acknowledged.
        var listed = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs?limit=1000"))!["docs"]!.AsArray().Count;
        Assert.Equal(replies.Count(r => (string?)r["t"] == "ack") + 1, listed);
    }

    [Fact]
    public async Task Bulk_sync_waits_while_interactive_writes_use_the_reserve()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync(Ops.Unique());
        // Spend 12 of 20 tokens: 8 left, under the reserve of 10.
        for (var i = 0; i < 12; i++)
        {
            await client.MutateAsync(Ops.Put(c, "d" + i, new { i }));
        }
        var sub = await client.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "s", ["collection"] = c });
        Assert.Equal("rate_limited", (string?)sub["code"]);
        // Interactive traffic still has its reserve.
        Assert.Equal("ack", (string?)(await client.MutateAsync(Ops.Put(c, "more", new { n = 1 })))["t"]);
    }

    [Fact]
    public async Task Over_rest_the_client_header_picks_the_bucket_and_listings_are_bulk()
    {
        var c = Ops.Unique();
        using var http = new HttpClient { BaseAddress = _server.HttpUrl };
        http.DefaultRequestHeaders.Add("Lockstep-Client-Id", Ops.Unique());
        for (var i = 0; i < 12; i++)
        {
            (await http.PutAsJsonAsync($"/v1/collections/{c}/docs/d{i}", new JsonObject { ["i"] = i })).EnsureSuccessStatusCode();
        }
        using var listing = await http.GetAsync($"/v1/collections/{c}/docs");
        Assert.Equal(HttpStatusCode.TooManyRequests, listing.StatusCode);
        Assert.Equal("rate_limited", (string?)JsonNode.Parse(await listing.Content.ReadAsStringAsync())!["code"]);
        Assert.True(listing.Headers.Contains("Retry-After"));
        using var feed = await http.GetAsync("/v1/changes?after=0");
        Assert.Equal(HttpStatusCode.TooManyRequests, feed.StatusCode);
        (await http.GetAsync($"/v1/collections/{c}/docs/d1")).EnsureSuccessStatusCode();

        // Another client id (the test server's own client) is not affected.
        (await _server.Http.GetAsync($"/v1/collections/{c}/docs")).EnsureSuccessStatusCode();
    }
}
