using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>
/// The frame reader over a real WebSocket pair on loopback (no Kestrel): whole messages however they are cut,
/// empty ones, the limit, the wrong message type and the close — now that it waits for each message with a
/// zero-byte receive and holds no buffer between them.
/// </summary>
public sealed class FrameReaderTests : IAsyncLifetime
{
    private TcpListener _listener = null!;
    private TcpClient _clientTcp = null!;
    private TcpClient _serverTcp = null!;
    private WebSocket _client = null!;
    private WebSocket _server = null!;

    public async Task InitializeAsync()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _clientTcp = new TcpClient();
        var accept = _listener.AcceptTcpClientAsync();
        await _clientTcp.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_listener.LocalEndpoint).Port);
        _serverTcp = await accept;
        _client = WebSocket.CreateFromStream(_clientTcp.GetStream(), new WebSocketCreationOptions { IsServer = false });
        _server = WebSocket.CreateFromStream(_serverTcp.GetStream(), new WebSocketCreationOptions { IsServer = true });
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        _server.Dispose();
        _clientTcp.Dispose();
        _serverTcp.Dispose();
        _listener.Stop();
        return Task.CompletedTask;
    }

    private FrameReader Reader(int maxFrameBytes = 1 << 20, IFrameCodec? codec = null) => new(_server, codec ?? FrameCodecs.Json, maxFrameBytes, TimeProvider.System);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private Task SendAsync(string text, bool endOfMessage = true) =>
        _client.SendAsync(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(text)), WebSocketMessageType.Text, endOfMessage, Timeout).AsTask();

    [Fact]
    public async Task Messages_of_every_size_come_whole_and_in_order_an_empty_one_included()
    {
        using var reader = Reader();
        var big = "{\"t\":\"ping\",\"id\":\"" + new string('x', 200_000) + "\"}";
        var messages = new[] { "{\"t\":\"ping\",\"id\":1}", "", big, "{\"t\":\"ping\",\"id\":2}", "" };
        var sending = Task.Run(async () =>
        {
            foreach (var message in messages)
            {
                await SendAsync(message);
            }
        });
        foreach (var expected in messages)
        {
            Assert.Equal(FrameReadOutcome.Frame, await reader.ReceiveAsync(Timeout));
            Assert.Equal(expected, Encoding.UTF8.GetString(reader.Message.Span));
            Assert.Equal(0, reader.FrameStarted);
        }
        await sending;
    }

    [Fact]
    public async Task A_message_sent_in_pieces_is_one_message_timed_from_its_first_piece()
    {
        using var reader = Reader();
        await SendAsync("{\"t\":\"ping\",", endOfMessage: false);
        var receiving = reader.ReceiveAsync(Timeout);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (reader.FrameStarted == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.NotEqual(0, reader.FrameStarted);
        Assert.False(receiving.IsCompleted);
        await SendAsync("\"id\":3}");
        Assert.Equal(FrameReadOutcome.Frame, await receiving);
        Assert.Equal("{\"t\":\"ping\",\"id\":3}", Encoding.UTF8.GetString(reader.Message.Span));
        Assert.Equal(0, reader.FrameStarted);
    }

    [Fact]
    public async Task Past_the_limit_is_too_large()
    {
        using var reader = Reader(maxFrameBytes: 100);
        await SendAsync(new string('a', 101));
        Assert.Equal(FrameReadOutcome.TooLarge, await reader.ReceiveAsync(Timeout));
    }

    [Fact]
    public async Task A_binary_message_on_json_is_the_wrong_type_as_soon_as_its_header_is_in()
    {
        using var reader = Reader();
        await _client.SendAsync(new ReadOnlyMemory<byte>([0x91, 0x07]), WebSocketMessageType.Binary, endOfMessage: false, Timeout);
        Assert.Equal(FrameReadOutcome.WrongType, await reader.ReceiveAsync(Timeout));
    }

    [Fact]
    public async Task A_close_is_closed()
    {
        using var reader = Reader();
        await _client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", Timeout);
        Assert.Equal(FrameReadOutcome.Closed, await reader.ReceiveAsync(Timeout));
    }
}
