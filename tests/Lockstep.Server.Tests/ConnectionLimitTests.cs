using System.Net;
using System.Net.WebSockets;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The server-wide limit on sync connections, and per-message compression (off unless enabled).</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task An_upgrade_over_the_servers_connection_limit_is_refused_with_503_and_room_comes_back()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnections = 2);
        await using var a = await server.ConnectAsync(Ops.Unique());
        var b = await server.ConnectAsync(Ops.Unique());

        using (var third = new ClientWebSocket())
        {
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => third.ConnectAsync(server.SyncUrl, CancellationToken.None));
            Assert.Contains("503", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(2, server.Engine.Connections);

        await b.CloseAsync();
        await b.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Engine.Connections > 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "a closed connection was never given back");
            await Task.Delay(20);
        }
        await using var c = await server.ConnectAsync(Ops.Unique());
        Assert.Equal("welcome", (string?)c.Welcome["t"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Compression_is_accepted_only_when_enabled(bool enabled)
    {
        await using var server = await TestServer.StartAsync(o => o.EnableCompression = enabled);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, server.HttpUrl + "v1/sync");
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(new byte[16]));
        request.Headers.Add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        var accepted = response.Headers.TryGetValues("Sec-WebSocket-Extensions", out var extensions)
            && extensions.Any(e => e.Contains("permessage-deflate", StringComparison.Ordinal));
        Assert.Equal(enabled, accepted);
    }

    [Fact]
    public async Task With_compression_on_the_frame_limit_still_bounds_the_inflated_message()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.EnableCompression = true;
            o.MaxFrameBytes = 16 * 1024;
        });
        using var socket = new ClientWebSocket();
        socket.Options.DangerousDeflateOptions = new WebSocketDeflateOptions();
        await socket.ConnectAsync(server.SyncUrl, CancellationToken.None);
        await socket.SendAsync("""{"t":"hello","id":1}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64 * 1024];
        var welcome = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Contains("welcome", System.Text.Encoding.UTF8.GetString(buffer, 0, welcome.Count), StringComparison.Ordinal);

        // 1 MB of one repeated byte deflates to almost nothing on the wire, but is 1 MB once inflated.
        var bomb = System.Text.Encoding.UTF8.GetBytes("""{"t":"ping","id":2,"pad":""" + "\"" + new string('a', 1 << 20) + "\"}");
        await socket.SendAsync(bomb, WebSocketMessageType.Text, true, CancellationToken.None);
        var error = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Contains("frame_too_large", System.Text.Encoding.UTF8.GetString(buffer, 0, error.Count), StringComparison.Ordinal);
    }
}
