using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>A filter's cost is bounded, by terms and bytes, alone and across a connection's subscriptions, over the socket and REST.</summary>
public sealed class FilterLimitTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.MaxFilterTerms = 10;
        o.MaxFilterBytes = 2048;
        o.MaxFilterBytesPerConnection = 4096;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static JsonObject In(int items, int width = 1) =>
        new() { ["tag"] = new JsonObject { ["$in"] = new JsonArray([.. Enumerable.Range(0, items).Select(i => (JsonNode)(i.ToString("D" + width, System.Globalization.CultureInfo.InvariantCulture)))]) } };

    private static JsonObject Sub(string sub, string collection, JsonObject filter) =>
        new() { ["t"] = "sub", ["sub"] = sub, ["collection"] = collection, ["filter"] = filter };

    [Fact]
    public async Task A_subscription_filter_over_the_terms_or_bytes_limit_is_refused_with_filter_too_large_and_the_connection_carries_on()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync();
        // 11 terms: an $in of 10 and one comparison more.
        var terms = In(10);
        terms["n"] = new JsonObject { ["$gt"] = 1 };
        var refused = await client.RequestAsync(Sub("t", c, terms));
        Assert.Equal("filter_too_large", (string?)refused["code"]);
        // 1 term, 3,000 bytes.
        refused = await client.RequestAsync(Sub("b", c, new JsonObject { ["tag"] = new string('x', 3000) }));
        Assert.Equal("filter_too_large", (string?)refused["code"]);

        // Exactly at the limits is fine, and the connection still works.
        await client.SubscribeAsync("ok", c, In(10));
        var ack = await client.MutateAsync(Ops.Put(c, "d", new { tag = "3" }));
        await client.WaitForSeqAsync((long)ack["seq"]!);
        Assert.True(client.Views["ok"].ContainsKey("d"));
        Assert.Empty(client.Violations);
    }

    [Fact]
    public async Task Filters_over_the_per_connection_budget_together_are_refused_with_too_many_subscriptions_until_one_is_unsubscribed()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync();
        // Each about 1,500 bytes (10 strings of 140 characters); two fit in 4,096, the third does not.
        var filter = In(10, 140);
        await client.SubscribeAsync("a", c, filter);
        await client.SubscribeAsync("b", c, filter);
        var refused = await client.RequestAsync(Sub("c", c, filter));
        Assert.Equal("too_many_subscriptions", (string?)refused["code"]);
        // A subscription without a filter costs nothing.
        await client.SubscribeAsync("all", c);

        Assert.Equal("ok", (string?)(await client.RequestAsync(new JsonObject { ["t"] = "unsub", ["sub"] = "a" }))["t"]);
        await client.SubscribeAsync("c", c, filter);
        Assert.Empty(client.Violations);
    }

    [Fact]
    public async Task A_hello_resuming_filters_over_the_limits_is_refused_and_closed()
    {
        var c = Ops.Unique();
        await using (var tooLarge = await _server.ConnectAsync(cursor: 0, subs: [new { sub = "s", collection = c, filter = In(11) }]))
        {
            Assert.Equal("filter_too_large", (string?)tooLarge.Welcome["code"]);
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, await tooLarge.WaitClosedAsync());
        }
        var filter = In(10, 140);
        await using var together = await _server.ConnectAsync(cursor: 0, subs: [.. Enumerable.Range(0, 3).Select(i => (object)new { sub = "s" + i, collection = c, filter })]);
        Assert.Equal("too_many_subscriptions", (string?)together.Welcome["code"]);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, await together.WaitClosedAsync());
    }

    [Fact]
    public async Task A_listing_filter_over_the_limits_is_refused_with_filter_too_large_over_rest()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync();
        await writer.MutateAsync(Ops.Put(c, "d", new { tag = "3" }));

        foreach (var filter in new[] { In(11), new JsonObject { ["tag"] = new string('x', 3000) } })
        {
            var response = await _server.Http.GetAsync($"/v1/collections/{c}/docs?filter={Uri.EscapeDataString(filter.ToJsonString())}");
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Equal("filter_too_large", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        }
        var ok = await _server.Http.GetAsync($"/v1/collections/{c}/docs?filter={Uri.EscapeDataString(In(10).ToJsonString())}");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("\"d\"", await ok.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
