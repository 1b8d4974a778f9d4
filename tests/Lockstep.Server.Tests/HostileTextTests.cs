using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// JSON that is well-formed but not text — a lone surrogate escape (<c>"\ud800"</c>) in any string,
/// raw invalid UTF-8 — or that holds a number beyond a double (<c>1e400</c>), over the socket and
/// REST: each is refused with a stable, non-transient code at the one JSON door, the connection keeps
/// working, and the server's log holds no exception. Emoji (surrogate pairs) are text and pass.
/// </summary>
public sealed class HostileTextTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(build: b => b.AddMutator("echo", (_, _, _) => ValueTask.FromResult<JsonNode?>(null)));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Put(string collection = "c", string id = "x", string doc = """{"a":1}""") =>
        $$"""{"op":"put","collection":"{{collection}}","id":"{{id}}","doc":{{doc}}}""";

    public static TheoryData<string, string> Frames => new()
    {
        { "collection", $$"""{"t":"mut","id":1,"ops":[{{Put(collection: "c\\ud800")}}]}""" },
        { "id", $$"""{"t":"mut","id":1,"ops":[{{Put(id: "x\\ud800")}}]}""" },
        { "field name", $$"""{"t":"mut","id":1,"ops":[{{Put(doc: """{"a\udc00":1}""")}}]}""" },
        { "value", $$"""{"t":"mut","id":1,"ops":[{{Put(doc: """{"a":"\ud800"}""")}}]}""" },
        { "nested value", $$"""{"t":"mut","id":1,"ops":[{{Put(doc: """{"a":{"b":["\udfff"]}}""")}}]}""" },
        { "patch path", """{"t":"mut","id":1,"ops":[{"op":"patch","collection":"c","id":"x","set":{"\ud800x":1}}]}""" },
        { "unset path", """{"t":"mut","id":1,"ops":[{"op":"patch","collection":"c","id":"x","unset":["\ud800"]}]}""" },
        { "mutator name", """{"t":"call","id":1,"name":"echo\ud800","args":{}}""" },
        { "mutator args", """{"t":"call","id":1,"name":"echo","args":{"k":"\ud800"}}""" },
        { "sub name", """{"t":"sub","id":1,"sub":"s\ud800","collection":"c"}""" },
        { "filter value", """{"t":"sub","id":1,"sub":"s","collection":"c","filter":{"a":"\ud800"}}""" },
        { "filter field", """{"t":"sub","id":1,"sub":"s","collection":"c","filter":{"\ud800":1}}""" },
        { "filter $in", """{"t":"sub","id":1,"sub":"s","collection":"c","filter":{"a":{"$in":["x","\udc00"]}}}""" },
        { "type", """{"t":"\ud800","id":1}""" },
        { "unsubscribe", """{"t":"unsub","id":1,"sub":"\ud800"}""" },
        { "unknown field", """{"t":"ping","id":1,"extra\ud800":"\ud800"}""" },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public async Task A_lone_surrogate_in_any_string_of_a_frame_is_bad_frame_answering_its_id_and_the_connection_stays(string where, string frame)
    {
        await using var client = await _server.ConnectAsync("hostile-" + where.Replace(' ', '-'));
        await client.SendRawAsync(frame);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal("bad_frame", (string?)error["code"]);
        Assert.Equal(1, (int?)error["id"]);
        Assert.Equal("pong", (string?)(await client.RequestAsync(new JsonObject { ["t"] = "ping" }))["t"]);
        Assert.Null(client.CloseStatus);
        AssertLogClean();
    }

    [Theory]
    [InlineData("""{"t":"ping","\ud83did":1}""")]
    [InlineData("""{"t":"unsub","\udc00":1,"id":1,"sub":"s"}""")]
    [InlineData("""{"\ud800t":"ping","id":1}""")]
    [InlineData("""{"t":"mut","id":1,"ops":[{"a":"\ud800"} x]}""")]
    [InlineData("""{"t":"mut","id":1,"n":1e400 "x"}""")]
    [InlineData("""{"t":"ping","id":1,"s":"\udc00"}}""")]
    public async Task A_lone_surrogate_in_a_field_name_next_to_the_id_or_before_a_syntax_error_is_bad_frame_and_the_connection_stays(string frame)
    {
        // Found by the fuzz harness: looking the id up unescapes the names on the way, and threw (1011);
        // so did reading for the id a frame whose syntax breaks after its first defect.
        await using var client = await _server.ConnectAsync();
        await client.SendRawAsync(frame);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal("bad_frame", (string?)error["code"]);
        Assert.Equal("pong", (string?)(await client.RequestAsync(new JsonObject { ["t"] = "ping" }))["t"]);
        Assert.Null(client.CloseStatus);
        AssertLogClean();
    }

    [Theory]
    [InlineData("""{"t":"mut","id":1,"ops":[{"op":"put","collection":"c","id":"x","doc":{"a":1e400}}]}""")]
    [InlineData("""{"t":"mut","id":1,"ops":[{"op":"inc","collection":"c","id":"x","path":"a","by":-1E+999}]}""")]
    [InlineData("""{"t":"sub","id":1,"sub":"s","collection":"c","filter":{"a":{"$gt":1e400}}}""")]
    public async Task A_number_beyond_a_double_is_invalid_document_and_nothing_is_written(string frame)
    {
        await using var client = await _server.ConnectAsync();
        var head = _server.Engine.Head;
        await client.SendRawAsync(frame);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal("invalid_document", (string?)error["code"]);
        Assert.Equal(1, (int?)error["id"]);
        Assert.Equal(head, _server.Engine.Head);
        Assert.Equal("pong", (string?)(await client.RequestAsync(new JsonObject { ["t"] = "ping" }))["t"]);
    }

    [Theory]
    [InlineData("""{"t":"hello","id":1,"clientId":"a\ud800"}""", "bad_frame", 1)]
    [InlineData("""{"t":"hello","id":1,"token":"\udc00"}""", "bad_frame", 1)]
    [InlineData("""{"t":"hello","id":1,"cursor":0,"subs":[{"sub":"s","collection":"c","filter":{"a":"\ud800"}}]}""", "bad_frame", 1)]
    [InlineData("""{"t":"hello","id":"\ud800"}""", "hello_required", null)]
    [InlineData("""{"t":"hello","id":1,"cursor":1e400}""", "invalid_document", 1)]
    public async Task A_first_frame_holding_a_lone_surrogate_or_a_huge_number_is_refused_with_1008_not_1011(string frame, string code, int? id)
    {
        await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, hello: false);
        await client.SendRawAsync(frame);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal(code, (string?)error["code"]);
        Assert.Equal(id, (int?)error["id"]);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.WaitClosedAsync());
        AssertLogClean();
    }

    [Fact]
    public async Task Ids_and_client_ids_made_of_emoji_are_text_and_accepted_over_the_socket_and_REST()
    {
        var c = Ops.Unique();
        const string id = "🎉🎉-👩‍💻";
        await using var client = await _server.ConnectAsync("📱🔁");
        Assert.Equal("welcome", (string?)client.Welcome["t"]);
        Assert.Equal("ack", (string?)(await client.MutateAsync(1, Ops.Put(c, id, new { n = 1 })))["t"]);
        using var read = await _server.Http.GetAsync($"/v1/collections/{c}/docs/{Uri.EscapeDataString(id)}");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        using var put = await _server.Http.PutAsync($"/v1/collections/{c}/docs/{Uri.EscapeDataString("🚀")}", Json("""{"n":2}"""));
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
    }

    public static TheoryData<string, string, string> Bodies => new()
    {
        { "collection", "/v1/mutations", $$"""{"ops":[{{Put(collection: "c\\ud800")}}]}""" },
        { "id", "/v1/mutations", $$"""{"ops":[{{Put(id: "\\ud800")}}]}""" },
        { "field name", "/v1/mutations", $$"""{"ops":[{{Put(doc: """{"\ud800":1}""")}}]}""" },
        { "value", "/v1/mutations", $$"""{"ops":[{{Put(doc: """{"a":"x\udc00"}""")}}]}""" },
        { "clientId", "/v1/mutations", $$"""{"clientId":"\ud800","mid":1,"ops":[{{Put()}}]}""" },
        { "mutator name", "/v1/mutations", """{"name":"echo\ud800","args":{}}""" },
        { "job payload", "/v1/queues/q/jobs", """{"payload":{"a":"\ud800"}}""" },
        { "group member", "/v1/groups/g/claim", """{"member":"\ud800"}""" },
        { "document body", "PUT /v1/collections/c/docs/x", """{"a":"\ud800"}""" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_lone_surrogate_in_a_REST_body_is_a_400_invalid_request_with_a_problem(string where, string path, string body)
    {
        using var response = await SendAsync(path, Json(body));
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request", where);
        AssertLogClean();
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xED, 0xA0, 0x80, (byte)'"', (byte)'}' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xC3, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xF8, 0x88, 0x80, 0x80, 0x80, (byte)'"', (byte)'}' })]
    public async Task Raw_invalid_UTF8_in_a_REST_body_is_a_400_invalid_request(byte[] bytes)
    {
        foreach (var path in new[] { "/v1/mutations", "PUT /v1/collections/c/docs/x", "/v1/queues/q/jobs" })
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await SendAsync(path, content);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request", path);
        }
        AssertLogClean();
    }

    [Fact]
    public async Task A_number_beyond_a_double_in_a_REST_body_is_invalid_document_and_a_filter_with_a_lone_surrogate_is_invalid_filter()
    {
        var head = _server.Engine.Head;
        using (var put = await SendAsync("PUT /v1/collections/c/docs/big", Json("""{"a":1e400}""")))
        {
            await AssertProblemAsync(put, HttpStatusCode.BadRequest, "invalid_document", "put");
        }
        using (var post = await SendAsync("/v1/mutations", Json($$"""{"ops":[{{Put(doc: """{"a":-2e308}""")}}]}""")))
        {
            await AssertProblemAsync(post, HttpStatusCode.BadRequest, "invalid_document", "mutations");
        }
        Assert.Equal(head, _server.Engine.Head);
        foreach (var filter in new[] { """{"a":"\ud800"}""", """{"\udc00":1}""", """{"a":{"$in":[1,"\ud800"]}}""" })
        {
            using var list = await _server.Http.GetAsync("/v1/collections/c/docs?filter=" + Uri.EscapeDataString(filter));
            await AssertProblemAsync(list, HttpStatusCode.BadRequest, "invalid_filter", filter);
        }
        AssertLogClean();
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<HttpResponseMessage> SendAsync(string path, HttpContent content)
    {
        var method = HttpMethod.Post;
        if (path.StartsWith("PUT ", StringComparison.Ordinal))
        {
            method = HttpMethod.Put;
            path = path[4..];
        }
        using var request = new HttpRequestMessage(method, path) { Content = content };
        return await _server.Http.SendAsync(request);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string why)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{why}: {(int)response.StatusCode} {text}");
        Assert.True((string?)JsonNode.Parse(text)?["code"] == code, $"{why}: {text}");
    }

    private void AssertLogClean() => Assert.True(!_server.Log.Failures.Any(), string.Join('\n', _server.Log.Failures));
}
