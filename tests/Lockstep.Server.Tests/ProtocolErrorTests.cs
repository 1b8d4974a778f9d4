using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

public sealed class ProtocolErrorTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.MaxFrameBytes = 64 * 1024);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("not json", "bad_frame")]
    [InlineData("[1,2,3]", "bad_frame")]
    [InlineData("{\"id\":1}", "bad_frame")]
    [InlineData("{\"t\":\"launch\",\"id\":1}", "unknown_type")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":{\"n\":1,\"n\":2}}]}", "bad_frame")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":\"nope\"}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"bad name\",\"id\":\"x\",\"doc\":{}}]}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":{\"a.b\":1}}]}", "invalid_document")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":[]}]}", "invalid_document")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\"}]}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":null}]}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"frobnicate\",\"collection\":\"c\",\"id\":\"x\"}]}", "invalid_request")]
    [InlineData("{\"t\":\"sub\",\"id\":1,\"sub\":\"s\",\"collection\":\"c\",\"filter\":{\"a\":{\"$regex\":\"x\"}}}", "invalid_filter")]
    [InlineData("{\"t\":\"hello\",\"id\":1}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"id\":1,\"mid\":-3,\"ops\":[]}", "invalid_request")]
    [InlineData("{\"t\":\"ping\"}", "invalid_request")]
    [InlineData("{\"t\":\"mut\",\"ops\":[{\"op\":\"delete\",\"collection\":\"c\",\"id\":\"x\"}]}", "invalid_request")]
    public async Task A_bad_frame_gets_an_error_with_a_stable_code_and_the_connection_keeps_working(string frame, string code)
    {
        await using var client = await _server.ConnectAsync("bad");
        await client.SendRawAsync(frame);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal(code, (string?)error["code"]);
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));
        var pong = await client.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }

    [Fact]
    public async Task A_numbered_write_without_a_client_id_is_refused_not_applied_unrecorded()
    {
        var c = Ops.Unique();
        await using var anonymous = await _server.ConnectAsync();
        var head = _server.Engine.Head;
        var mutation = await anonymous.MutateAsync(1, Ops.Put(c, "a", new { n = 1 }));
        Assert.Equal("invalid_request", (string?)mutation["code"]);
        var call = await anonymous.CallAsync("anything", new { }, mid: 2);
        Assert.Equal("invalid_request", (string?)call["code"]);
        Assert.Equal(head, _server.Engine.Head);
        Assert.Equal("ack", (string?)(await anonymous.MutateAsync(Ops.Put(c, "a", new { n = 1 })))["t"]);
    }

    [Fact]
    public async Task A_text_frame_that_is_not_utf8_closes_with_1007_without_disturbing_others()
    {
        await using var bystander = await _server.ConnectAsync("bystander-utf8");
        await using var client = await _server.ConnectAsync("utf8");
        await client.SendRawAsync([0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D]);
        // .NET's WebSocket layer refuses it with 1007 and then resets the connection, so the client may
        // see the reset instead of the close frame (docs/security.md): either way the connection is gone.
        var status = await client.WaitClosedAsync();
        Assert.True(status is null or WebSocketCloseStatus.InvalidPayloadData, $"closed with {status}");
        var pong = await bystander.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }

    [Fact]
    public async Task An_oversized_frame_is_refused_with_an_error_and_close_1009_without_disturbing_others()
    {
        var c = Ops.Unique();
        await using var bystander = await _server.ConnectAsync("bystander");
        await bystander.SubscribeAsync("s", c);
        await using var client = await _server.ConnectAsync("big");
        var huge = "{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":{\"s\":\"" + new string('x', 100 * 1024) + "\"}}]}";
        await client.SendRawAsync(huge);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal("frame_too_large", (string?)error["code"]);
        Assert.Equal((WebSocketCloseStatus)1009, await client.WaitClosedAsync());

        await using var writer = await _server.ConnectAsync("w");
        var ack = await writer.MutateAsync(Ops.Put(c, "ok", new { n = 1 }));
        await bystander.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == (long)ack["seq"]!);
    }

    [Theory]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"protocol\":2}", "unsupported_protocol")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"protocol\":1.5}", "unsupported_protocol")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"protocol\":\"1\"}", "invalid_request")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"clientId\":\"\"}", "invalid_request")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"cursor\":-1}", "invalid_request")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"subs\":[]}", "invalid_request")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"cursor\":0,\"subs\":[{\"sub\":\"s\",\"collection\":\"c\",\"filter\":{\"a\":{\"$regex\":1}}}]}", "invalid_filter")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"cursor\":0,\"subs\":[{\"sub\":\"s\",\"collection\":\"c\"},{\"sub\":\"s\",\"collection\":\"d\"}]}", "duplicate_subscription")]
    [InlineData("{\"t\":\"hello\",\"protocol\":1}", "hello_required")]
    [InlineData("{\"t\":\"ping\",\"id\":1}", "hello_required")]
    [InlineData("not json", "hello_required")]
    public async Task A_refused_hello_gets_its_error_and_close_1008(string hello, string code)
    {
        await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, hello: false);
        await client.SendRawAsync(hello);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error");
        Assert.Equal(code, (string?)error["code"]);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_hello_that_says_protocol_1_or_nothing_is_welcomed()
    {
        await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, hello: false);
        await client.SendRawAsync("{\"t\":\"hello\",\"id\":1}");
        var welcome = await client.WaitForAsync(f => (string?)f["t"] == "welcome" || (string?)f["t"] == "error");
        Assert.Equal("welcome", (string?)welcome["t"]);
        Assert.Equal(1, (int)welcome["protocol"]!);
    }

    [Fact]
    public async Task A_binary_frame_closes_with_1003()
    {
        await using var client = await _server.ConnectAsync("bin");
        await client.SendRawAsync(Encoding.UTF8.GetBytes("{}"), WebSocketMessageType.Binary);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_plain_http_request_to_the_sync_endpoint_gets_426_problem()
    {
        var response = await _server.Http.GetAsync("/v1/sync");
        Assert.Equal(426, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}

public sealed class HelloTimeoutTests
{
    [Fact]
    public async Task A_connection_without_a_hello_in_time_gets_hello_required_and_close_1008()
    {
        await using var server = await TestServer.StartAsync(o => o.HelloTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = await SyncClient.ConnectAsync(server.SyncUrl, hello: false);
        var error = await client.WaitForAsync(f => (string?)f["t"] == "error", TimeSpan.FromSeconds(10));
        Assert.Equal("hello_required", (string?)error["code"]);
        Assert.Null(error["id"]);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.WaitClosedAsync());
    }
}

public sealed class IdleTimeoutTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
        o.IdleTimeout = TimeSpan.FromMilliseconds(1200);
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_silent_connection_is_closed_with_4000_and_a_pinging_one_is_not()
    {
        await using var silent = await _server.ConnectAsync("silent");
        await using var pinging = await _server.ConnectAsync("pinging");
        var closed = silent.WaitClosedAsync(TimeSpan.FromSeconds(10));
        // Pinged from the thread pool: the test framework's own scheduler can delay a test's
        // continuations by more than the idle timeout on a busy two-core machine.
        await Task.Run(async () =>
        {
            for (var i = 0; i < 15 && !closed.IsCompleted; i++)
            {
                await pinging.RequestAsync(new JsonObject { ["t"] = "ping" });
                await Task.Delay(150);
            }
        });
        Assert.Equal((WebSocketCloseStatus)4000, await closed);
        var pong = await pinging.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }

    [Fact]
    public async Task WebSocket_ping_control_frames_do_not_keep_a_connection_open()
    {
        using var socket = new ClientWebSocket();
        // With a keep-alive timeout the client sends RFC 6455 pings (and the server's WebSocket layer
        // answers them), every 100 ms, far inside the idle timeout: only protocol frames count.
        socket.Options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        socket.Options.KeepAliveTimeout = TimeSpan.FromSeconds(5);
        await socket.ConnectAsync(_server.SyncUrl, CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("{\"t\":\"hello\",\"id\":1}"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, timeout.Token);
        }
        while (result.MessageType != WebSocketMessageType.Close);
        Assert.Equal((WebSocketCloseStatus)4000, socket.CloseStatus);
    }
}
