using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The proxy itself, against a real server and real sockets: each fault does what the resilience tests rely on.</summary>
public sealed class FaultProxyTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Hello_and_writes_pass_through_the_proxy_both_ways()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        Assert.Equal(new Uri($"ws://127.0.0.1:{proxy.Port}/v1/sync"), proxy.SyncUrl);

        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");
        Assert.Equal("welcome", (string?)client.Welcome["t"]);
        var ack = await client.MutateAsync(Ops.Put(Ops.Unique(), "d1", new { title = "through the proxy" }));
        Assert.Equal("ack", (string?)ack["t"]);

        Assert.Equal(1, proxy.ConnectionsAccepted);
        Assert.Equal(1, proxy.ActiveConnections);
        Assert.True(proxy.GetBytesForwarded(FaultDirection.ClientToServer) > 0);
        Assert.True(proxy.GetBytesForwarded(FaultDirection.ServerToClient) > 0);
        Assert.Equal(proxy.BytesForwarded,
            proxy.GetBytesForwarded(FaultDirection.ClientToServer) + proxy.GetBytesForwarded(FaultDirection.ServerToClient));

        await client.CloseAsync();
        await proxy.WaitUntilAsync(p => p.ActiveConnections == 0, Patience);
        Assert.Equal(0, proxy.Cuts);
    }

    [Fact]
    public async Task Frames_split_into_tiny_random_pieces_still_arrive_whole()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl, seed: 7) { MaxChunkBytes = 3, RandomChunkSizes = true };

        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");
        var ack = await client.MutateAsync(Ops.Put(Ops.Unique(), "d1", new { body = new string('x', 2000) }));

        Assert.Equal("ack", (string?)ack["t"]);
        Assert.Equal(0, proxy.Cuts);
    }

    [Fact]
    public async Task Delay_adds_latency_in_each_direction()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");
        proxy.Delay = TimeSpan.FromMilliseconds(200);

        var started = Stopwatch.GetTimestamp();
        var pong = await client.RequestAsync(Ping(), Patience);
        var roundTrip = Stopwatch.GetElapsedTime(started);

        Assert.Equal("pong", (string?)pong["t"]);
        // 200 ms out and 200 ms back; a little slack for timer granularity.
        Assert.True(roundTrip >= TimeSpan.FromMilliseconds(380), $"round trip {roundTrip.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task CutAll_resets_open_connections()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");

        proxy.CutAll();

        Assert.Equal(0, proxy.ActiveConnections);
        Assert.Equal(1, proxy.Cuts);
        // The receive loop ends without a closing handshake: no close status.
        Assert.Null(await client.WaitClosedAsync(Patience));
        await Assert.ThrowsAsync<WebSocketException>(() => client.RequestAsync(Ping(), Patience));
    }

    [Fact]
    public async Task Blackhole_drops_traffic_silently_and_connections_work_again_once_it_is_off()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        // A raw socket rather than SyncClient: the lost request must not leave an orphaned reply behind.
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Patience);
        await socket.ConnectAsync(proxy.SyncUrl, timeout.Token);
        await SendAsync(socket, new JsonObject { ["t"] = "hello", ["id"] = "hello" }, timeout.Token);
        Assert.Equal("welcome", (string?)(await ReceiveAsync(socket, timeout.Token))["t"]);
        var sentBefore = proxy.GetBytesForwarded(FaultDirection.ClientToServer);

        proxy.Blackhole = true;
        await SendAsync(socket, new JsonObject { ["t"] = "ping", ["id"] = "lost" }, timeout.Token);
        var reply = ReceiveAsync(socket, CancellationToken.None);
        await Task.WhenAny(reply, Task.Delay(TimeSpan.FromSeconds(1)));

        // Unanswered, yet nobody was told: the connection is still open on both sides of the proxy.
        Assert.False(reply.IsCompleted);
        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.Equal(1, proxy.ActiveConnections);
        Assert.Equal(sentBefore, proxy.GetBytesForwarded(FaultDirection.ClientToServer));
        using (var handshake = new ClientWebSocket())
        using (var handshakeTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => handshake.ConnectAsync(proxy.SyncUrl, handshakeTimeout.Token));
        }
        Assert.Equal(2, proxy.ConnectionsAccepted);
        Assert.Equal(0, proxy.Cuts);

        proxy.Blackhole = false;
        await SendAsync(socket, new JsonObject { ["t"] = "ping", ["id"] = "after" }, timeout.Token);
        // The first ping is gone for good, not late: the reply that arrives is to the second.
        Assert.Equal("after", (string?)(await reply.WaitAsync(Patience))["id"]);
        await using var fresh = await SyncClient.ConnectAsync(proxy.SyncUrl, "c2");
        Assert.Equal("pong", (string?)(await fresh.RequestAsync(Ping(), Patience))["t"]);
    }

    [Fact]
    public async Task RefuseNew_resets_new_connections_and_leaves_open_ones_alone()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var open = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");

        proxy.RefuseNew = true;
        using (var refused = new ClientWebSocket())
        using (var timeout = new CancellationTokenSource(Patience))
        {
            await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(proxy.SyncUrl, timeout.Token));
        }
        Assert.Equal(1, proxy.ConnectionsRefused);
        Assert.Equal(1, proxy.ConnectionsAccepted);
        Assert.Equal("pong", (string?)(await open.RequestAsync(Ping(), Patience))["t"]);

        proxy.RefuseNew = false;
        await using var later = await SyncClient.ConnectAsync(proxy.SyncUrl, "c2");
        Assert.Equal("welcome", (string?)later.Welcome["t"]);
        Assert.Equal(2, proxy.ConnectionsAccepted);
    }

    [Fact]
    public async Task CutAfter_lands_inside_the_next_websocket_frame()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");
        var receivedBefore = proxy.GetBytesForwarded(FaultDirection.ServerToClient);

        // A pong frame is a 2-byte header and about 40 bytes of JSON; 5 bytes end inside its payload.
        proxy.CutAfter(FaultDirection.ServerToClient, 5);
        await Assert.ThrowsAsync<WebSocketException>(() => client.RequestAsync(Ping(), Patience));

        Assert.Equal(1, proxy.Cuts);
        Assert.Equal(receivedBefore + 5, proxy.GetBytesForwarded(FaultDirection.ServerToClient));
        Assert.Null(await client.WaitClosedAsync(Patience));
        Assert.Equal(0, proxy.ActiveConnections);
    }

    [Fact]
    public async Task CutAfter_delivers_exactly_that_many_bytes_then_resets()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxy.Port));
        proxy.CutAfter(FaultDirection.ServerToClient, 10);

        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        var received = new MemoryStream();
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(Patience);
        var reset = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    return;
                }
                received.Write(buffer, 0, read);
            }
        });

        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        Assert.Equal("HTTP/1.1 2", Encoding.ASCII.GetString(received.ToArray()));
        Assert.Equal(1, proxy.Cuts);
    }

    [Fact]
    public async Task Cut_probability_one_cuts_the_first_piece_of_every_connection()
    {
        await using var proxy = new FaultProxy(_server.HttpUrl, seed: 3) { CutProbabilityPerChunk = 1 };

        using (var handshake = new ClientWebSocket())
        using (var timeout = new CancellationTokenSource(Patience))
        {
            await Assert.ThrowsAsync<WebSocketException>(() => handshake.ConnectAsync(proxy.SyncUrl, timeout.Token));
        }

        // The upgrade request is cut part-way, so the server never answers it.
        Assert.Equal(1, proxy.Cuts);
        Assert.Equal(0, proxy.ActiveConnections);
        Assert.Equal(0, proxy.GetBytesForwarded(FaultDirection.ServerToClient));
    }

    [Fact]
    public async Task Dispose_resets_connections_and_stops_listening()
    {
        var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = await SyncClient.ConnectAsync(proxy.SyncUrl, "c1");

        await proxy.DisposeAsync();

        Assert.Null(await client.WaitClosedAsync(Patience));
        Assert.Equal(0, proxy.ActiveConnections);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxy.Port)));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        await proxy.DisposeAsync();
    }

    private static JsonObject Ping() => new() { ["t"] = "ping" };

    private static Task SendAsync(ClientWebSocket socket, JsonObject frame, CancellationToken cancellationToken) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, cancellationToken);

    private static async Task<JsonObject> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var message = new MemoryStream();
        var buffer = new byte[4096];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, cancellationToken);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return JsonNode.Parse(message.ToArray())!.AsObject();
    }
}
