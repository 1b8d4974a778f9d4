using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Slow loris: a client that trickles a frame, or never finishes its hello, is closed on time, and others are not disturbed.</summary>
public sealed class SlowSenderTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.FrameTimeout = TimeSpan.FromSeconds(1);
        o.HelloTimeout = TimeSpan.FromSeconds(1);
        o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<ClientWebSocket> OpenAsync()
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await socket.ConnectAsync(_server.SyncUrl, CancellationToken.None);
        return socket;
    }

    private static async Task<(WebSocketCloseStatus? Status, List<JsonObject> Frames)> ReadUntilClosedAsync(ClientWebSocket socket, TimeSpan timeout)
    {
        var frames = new List<JsonObject>();
        var buffer = new byte[64 * 1024];
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cancel.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return (socket.CloseStatus, frames);
                }
                frames.Add(JsonNode.Parse(buffer.AsSpan(0, result.Count))!.AsObject());
            }
        }
        catch (WebSocketException)
        {
            return (socket.CloseStatus, frames);
        }
    }

    [Fact]
    public async Task A_frame_trickled_slower_than_the_frame_timeout_closes_the_connection_with_4002_while_others_keep_working()
    {
        await using var bystander = await _server.ConnectAsync("bystander");
        using var slow = await OpenAsync();
        await slow.SendAsync(Encoding.UTF8.GetBytes("""{"t":"hello","id":1}"""), WebSocketMessageType.Text, true, CancellationToken.None);
        var welcome = new byte[4096];
        await slow.ReceiveAsync(welcome, CancellationToken.None);

        // A mutation sent a few bytes at a time, each piece well inside the idle timeout, never finished.
        var closing = ReadUntilClosedAsync(slow, TimeSpan.FromSeconds(15));
        var piece = Encoding.UTF8.GetBytes("""{"t":"mut","id":2,"ops":[""");
        for (var i = 0; i < 6 && !closing.IsCompleted; i++)
        {
            try
            {
                await slow.SendAsync(piece.AsMemory(0, 4), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
            }
            catch (WebSocketException)
            {
                break;
            }
            Assert.Equal("ack", (string?)(await bystander.MutateAsync(Ops.Put("slow", "b" + i, new { i })))["t"]);
            await Task.Delay(400);
        }
        var (status, frames) = await closing;
        Assert.Equal((WebSocketCloseStatus)4002, status);
        Assert.Contains(frames, f => (string?)f["code"] == "frame_timeout");
    }

    [Fact]
    public async Task A_frame_whose_payload_is_dribbled_a_byte_at_a_time_is_closed_with_frame_timeout_at_the_frame_timeout()
    {
        await using var raw = await RawWebSocket.ConnectAsync(_server.SyncUrl);
        await raw.SendTextAsync("""{"t":"hello","id":1}""");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.Contains("welcome", await raw.ReceiveTextAsync(cancel.Token), StringComparison.Ordinal);

        // One whole frame announced by its header, its payload then sent a byte every 100 ms: each byte
        // well inside the idle timeout (30 s here), the frame never done within the frame timeout (1 s).
        var payload = Encoding.UTF8.GetBytes("""{"t":"ping","id":2,"pad":""" + "\"" + new string('a', 200) + "\"}");
        await raw.SendHeaderAsync(opcode: 1, payload.Length);
        var started = DateTime.UtcNow;
        var frames = new List<string>();
        var reading = Task.Run(async () =>
        {
            while (await raw.ReceiveTextAsync(cancel.Token) is { } frame)
            {
                frames.Add(frame);
            }
        });
        for (var i = 0; i < payload.Length - 1 && !reading.IsCompleted; i++)
        {
            try
            {
                await raw.SendRawAsync(payload.AsMemory(i, 1));
            }
            catch (IOException)
            {
                break;
            }
            await Task.Delay(100);
        }
        await reading;
        var elapsed = DateTime.UtcNow - started;
        Assert.Equal(4002, raw.CloseCode);
        Assert.Contains(frames, f => f.Contains("\"frame_timeout\"", StringComparison.Ordinal));
        Assert.InRange(elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_hello_that_never_finishes_is_closed_at_the_hello_timeout()
    {
        using var slow = await OpenAsync();
        await slow.SendAsync(Encoding.UTF8.GetBytes("""{"t":"hel"""), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
        var started = DateTime.UtcNow;
        await ReadUntilClosedAsync(slow, TimeSpan.FromSeconds(15));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        Assert.NotEqual(WebSocketState.Open, slow.State);
    }
}
