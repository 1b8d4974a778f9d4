using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Each limit refuses with its own code, over the socket and over REST, and writes nothing.</summary>
public sealed class LimitTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.MaxDocumentBytes = 1000;
        o.MaxSubscriptionsPerConnection = 3;
        o.MaxConnectionsPerClient = 2;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_write_that_would_make_a_document_too_large_is_refused_over_the_socket_and_nothing_is_written()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync("w");
        var ok = await client.MutateAsync(Ops.Put(c, "d", new { text = new string('x', 500) }));
        Assert.Equal("ack", (string?)ok["t"]);

        // A patch that is small itself but grows the document past the limit, in a batch with another write.
        var refused = await client.MutateAsync(Ops.Put(c, "other", new { n = 1 }), Ops.Patch(c, "d", new { more = new string('y', 600) }));
        Assert.Equal("error", (string?)refused["t"]);
        Assert.Equal("document_too_large", (string?)refused["code"]);
        Assert.Equal(1, (int?)refused["op"]);

        Assert.Equal(HttpStatusCode.NotFound, (await _server.Http.GetAsync($"/v1/collections/{c}/docs/other")).StatusCode);
        var d = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/d"))!;
        Assert.Null(d["more"]);
    }

    [Fact]
    public async Task A_write_that_would_make_a_document_too_large_is_refused_over_rest_with_413()
    {
        var c = Ops.Unique();
        using var content = new StringContent($$"""{"text":"{{new string('x', 2000)}}"}""", Encoding.UTF8, "application/json");
        using var response = await _server.Http.PutAsync($"/v1/collections/{c}/docs/d", content);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("document_too_large", (string?)problem["code"]);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Http.GetAsync($"/v1/collections/{c}/docs/d")).StatusCode);
    }

    [Fact]
    public async Task A_document_with_a_duplicate_field_is_refused_and_does_not_fail_the_batch_it_would_share()
    {
        // Found by the fuzz harness: duplicate keys used to fail the whole group-commit batch.
        var c = Ops.Unique();
        using var content = new StringContent("""{"n":1,"n":2}""", Encoding.UTF8, "application/json");
        using var response = await _server.Http.PutAsync($"/v1/collections/{c}/docs/d", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await using var client = await _server.ConnectAsync("dup");
        await client.SendRawAsync("""{"t":"mut","id":7,"ops":[{"op":"patch","collection":"C","id":"d","set":{"o":{"p":1,"p":2}}}]}""".Replace("\"C\"", "\"" + c + "\"", StringComparison.Ordinal));
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal("bad_frame", (string?)error["code"]);
        var ok = await client.MutateAsync(Ops.Put(c, "d", new { n = 1 }));
        Assert.Equal("ack", (string?)ok["t"]);
    }

    [Fact]
    public async Task A_document_nested_deeper_than_32_levels_is_refused_over_the_socket_and_REST_and_32_levels_are_fine()
    {
        var c = Ops.Unique();
        // Objects nested this many levels deep: {"a":{"a":…1}}.
        static JsonNode Nested(int levels) => JsonNode.Parse(string.Concat(Enumerable.Repeat("{\"a\":", levels)) + "1" + new string('}', levels))!;
        await using var client = await _server.ConnectAsync("deep");
        var refused = await client.MutateAsync(Ops.Put(c, "d", Nested(33)));
        Assert.Equal("invalid_document", (string?)refused["code"]);
        Assert.Equal("ack", (string?)(await client.MutateAsync(Ops.Put(c, "ok", Nested(32))))["t"]);

        using var body = new StringContent(Nested(33).ToJsonString(), Encoding.UTF8, "application/json");
        var response = await _server.Http.PutAsync($"/v1/collections/{c}/docs/r", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_document", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Http.GetAsync($"/v1/collections/{c}/docs/d")).StatusCode);
    }

    [Fact]
    public async Task Multibyte_characters_count_as_their_utf8_bytes()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync("mb");
        // 400 characters, 1,200 bytes in UTF-8: over the 1,000-byte limit although under it in characters.
        var refused = await client.MutateAsync(Ops.Put(c, "d", new { text = new string('€', 400) }));
        Assert.Equal("document_too_large", (string?)refused["code"]);
    }

    [Fact]
    public async Task A_subscription_over_the_per_connection_limit_is_refused_and_the_others_keep_working()
    {
        var c = Ops.Unique();
        await using var client = await _server.ConnectAsync("s");
        for (var i = 0; i < 3; i++)
        {
            await client.SubscribeAsync("s" + i, c);
        }
        var refused = await client.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "s3", ["collection"] = c });
        Assert.Equal("too_many_subscriptions", (string?)refused["code"]);

        // The connection and its subscriptions carry on; after an unsub there is room again.
        var ack = await client.MutateAsync(Ops.Put(c, "d", new { n = 1 }));
        await client.WaitForSeqAsync((long)ack["seq"]!);
        Assert.Equal("ok", (string?)(await client.RequestAsync(new JsonObject { ["t"] = "unsub", ["sub"] = "s0" }))["t"]);
        await client.SubscribeAsync("s3", c);
        Assert.Empty(client.Violations);
    }

    [Fact]
    public async Task A_client_id_over_its_connection_limit_is_refused_and_room_comes_back_when_one_closes()
    {
        var clientId = Ops.Unique();
        await using var first = await _server.ConnectAsync(clientId);
        var second = await _server.ConnectAsync(clientId);
        Assert.Equal("welcome", (string?)second.Welcome["t"]);

        await using (var third = await _server.ConnectAsync(clientId))
        {
            Assert.Equal("too_many_connections", (string?)third.Welcome["code"]);
            Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, await third.WaitClosedAsync());
        }
        // Another client id is not affected.
        await using (var other = await _server.ConnectAsync(Ops.Unique()))
        {
            Assert.Equal("welcome", (string?)other.Welcome["t"]);
        }

        await second.CloseAsync();
        await second.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var again = await _server.ConnectAsync(clientId);
            if ((string?)again.Welcome["t"] == "welcome")
            {
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the closed connection's place was never given back");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_hello_resuming_more_subscriptions_than_allowed_is_refused_and_closed()
    {
        var c = Ops.Unique();
        var subs = Enumerable.Range(0, 4).Select(i => (object)new { sub = "s" + i, collection = c }).ToArray();
        await using var client = await _server.ConnectAsync("h", cursor: 0, subs: subs);
        // The reply to the hello is the refusal, not a welcome.
        Assert.Equal("error", (string?)client.Welcome["t"]);
        Assert.Equal("too_many_subscriptions", (string?)client.Welcome["code"]);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, await client.WaitClosedAsync());
    }
}
