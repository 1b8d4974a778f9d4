using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// The MessagePack encoding against the real server (docs/protocol.md §11): negotiated by subprotocol, the same
/// frames as JSON in binary messages, malformed frames refused with the codes JSON gets.
/// </summary>
public sealed class MessagePackSessionTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_msgpack_connection_gets_the_same_frames_as_a_json_one()
    {
        var c = Ops.Unique();
        await using var json = await CodecSocket.ConnectAsync(_server.SyncUrl, FrameCodecs.Json);
        await using var binary = await CodecSocket.ConnectAsync(_server.SyncUrl, FrameCodecs.MessagePack);
        Assert.Equal("lockstep.v1.msgpack", binary.Socket.SubProtocol);
        Assert.Equal("lockstep.v1.json", json.Socket.SubProtocol);
        foreach (var s in new[] { json, binary })
        {
            await s.SendAsync(new HelloFrame(RawJson.Number(1)) { ClientId = "mp-" + s.Codec.SubProtocol, Protocol = 1 });
            Assert.IsType<WelcomeFrame>(await s.ReceiveAsync());
            await s.SendAsync(new SubscribeFrame(RawJson.FromString("s1"), new SubscriptionSpec("all", c)));
            var snapshot = Assert.IsType<SnapshotFrame>(await s.ReceiveAsync());
            Assert.True(snapshot.Last);
        }

        // Written over MessagePack: a put, a patch with unset, an inc and a delete, with a mid.
        await binary.SendAsync(new MutateFrame(RawJson.Number(2), 1,
        [
            new MutationOp(OpKind.Put, c, "d1") { Doc = new RawJson("{\"title\":\"é\",\"n\":1.5,\"tags\":[\"a\"],\"meta\":{\"x\":1}}") },
            new MutationOp(OpKind.Patch, c, "d1") { Set = new RawJson("{\"title\":\"two\"}"), Unset = ["meta.x"], IfVersion = 1 },
            new MutationOp(OpKind.Inc, c, "d1") { Path = "count", By = new RawJson("-2") },
            new MutationOp(OpKind.Put, c, "d2") { Doc = new RawJson("{}") },
            new MutationOp(OpKind.Delete, c, "d2"),
        ]));
        var ack = Assert.IsType<AckFrame>(await binary.ReceiveUntilAsync(f => f is AckFrame));
        Assert.Equal("2", ack.Id!.Value.Json);
        Assert.Equal([1L, 2, 3, 1, 2], ack.Results.Select(r => r.Version));

        var fromJson = await json.ReceiveChangesAsync(5);
        var fromBinary = await binary.ReceiveChangesAsync(5);
        Assert.Equal(fromJson.Select(Fixture), fromBinary.Select(f => Fixture(f is ChangeFrame cf ? cf with { Mid = null } : ((RemovedFrame)f) with { Mid = null })));
        // Only the writer's own connection sees its mid.
        Assert.All(fromBinary, f => Assert.Equal(1L, f is ChangeFrame cf ? cf.Mid : ((RemovedFrame)f).Mid));
        Assert.All(fromJson, f => Assert.Null(f is ChangeFrame cf ? cf.Mid : ((RemovedFrame)f).Mid));
        Assert.Contains("\"set\":{\"title\":\"two\"},\"unset\":[\"meta.x\"]", Fixture(fromJson[1]), StringComparison.Ordinal);

        // A version conflict's current document comes through in MessagePack too.
        await binary.SendAsync(new MutateFrame(RawJson.FromString("w3"), null, [new MutationOp(OpKind.Patch, c, "d1") { Set = new RawJson("{\"a\":1}"), IfVersion = 1 }]));
        var conflict = Assert.IsType<ErrorFrame>(await binary.ReceiveUntilAsync(f => f is ErrorFrame));
        Assert.Equal(("\"w3\"", "version_conflict", 0, 3L), (conflict.Id!.Value.Json, conflict.Code, conflict.Op!.Value, conflict.Current!.Version));
        await binary.SendAsync(new PingFrame(RawJson.Number(4)));
        Assert.IsType<PongFrame>(await binary.ReceiveUntilAsync(f => f is PongFrame));
    }

    private static string Fixture(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameCodecs.Json.Write(frame, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Theory]
    [InlineData("lockstep.v1.msgpack,lockstep.v1.json", "lockstep.v1.msgpack")]
    [InlineData("lockstep.v1.json,lockstep.v1.msgpack", "lockstep.v1.json")]
    [InlineData("chat,lockstep.v1.msgpack", "lockstep.v1.msgpack")]
    public async Task The_first_offered_subprotocol_the_server_speaks_is_chosen(string offered, string chosen)
    {
        using var socket = new ClientWebSocket();
        foreach (var p in offered.Split(','))
        {
            socket.Options.AddSubProtocol(p);
        }
        await socket.ConnectAsync(_server.SyncUrl, CancellationToken.None);
        Assert.Equal(chosen, socket.SubProtocol);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
    }

    [Fact]
    public async Task An_upgrade_offering_only_unknown_subprotocols_is_refused_with_unsupported_protocol()
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("lockstep.v2.json");
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAnyAsync<WebSocketException>(() => socket.ConnectAsync(_server.SyncUrl, CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_server.HttpUrl, "/v1/sync"));
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(new byte[16]));
        request.Headers.Add("Sec-WebSocket-Protocol", "lockstep.v2.json");
        using var response = await _server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"code\":\"unsupported_protocol\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_text_frame_on_a_msgpack_connection_closes_it_with_1003()
    {
        await using var s = await CodecSocket.ConnectAsync(_server.SyncUrl, FrameCodecs.MessagePack);
        await s.Socket.SendAsync("{\"t\":\"hello\",\"id\":1}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.Equal((WebSocketCloseStatus)1003, await s.WaitClosedAsync());
    }

    [Fact]
    public async Task A_first_frame_that_is_no_msgpack_frame_is_hello_required_and_1008()
    {
        await using var s = await CodecSocket.ConnectAsync(_server.SyncUrl, FrameCodecs.MessagePack);
        await s.Socket.SendAsync(Convert.FromHexString("81a17401"), WebSocketMessageType.Binary, true, CancellationToken.None);
        var error = Assert.IsType<ErrorFrame>(await s.ReceiveAsync());
        Assert.Equal(("hello_required", (RawJson?)null), (error.Code, error.Id));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await s.WaitClosedAsync());
    }

    [Theory]
    [InlineData("920d", "bad_frame", null)] // truncated
    [InlineData("921180", "unknown_type", null)] // type 17
    [InlineData("920781a26964cb7ff8000000000000", "bad_frame", null)] // NaN as the id
    [InlineData("920780", "invalid_request", null)] // a ping without id: as in JSON
    [InlineData("940509c091950007a164c0a3616263", "invalid_request", "9")] // a put whose collection is 7 and doc "abc"
    [InlineData("940509c0919500a163a164c0a3616263", "invalid_document", "9")] // a doc that is a string
    [InlineData("92058101a0", "bad_frame", null)] // a map key that is not a str
    public async Task Malformed_frames_after_the_hello_get_the_codes_json_gets_and_the_connection_stays(string hex, string code, string? id)
    {
        await using var s = await CodecSocket.ConnectAsync(_server.SyncUrl, FrameCodecs.MessagePack);
        await s.SendAsync(new HelloFrame(RawJson.Number(1)));
        Assert.IsType<WelcomeFrame>(await s.ReceiveAsync());
        await s.Socket.SendAsync(Convert.FromHexString(hex), WebSocketMessageType.Binary, true, CancellationToken.None);
        var error = Assert.IsType<ErrorFrame>(await s.ReceiveAsync());
        Assert.Equal((code, id), (error.Code, error.Id?.Json));
        await s.SendAsync(new PingFrame(RawJson.Number(2)));
        Assert.IsType<PongFrame>(await s.ReceiveAsync());
    }
}

/// <summary>A bare socket speaking one codec: the server's side of the encoding, without any SDK.</summary>
internal sealed class CodecSocket : IAsyncDisposable
{
    private readonly byte[] _buffer = new byte[1 << 20];

    private CodecSocket(ClientWebSocket socket, IFrameCodec codec)
    {
        Socket = socket;
        Codec = codec;
    }

    public ClientWebSocket Socket { get; }

    public IFrameCodec Codec { get; }

    public static async Task<CodecSocket> ConnectAsync(Uri url, IFrameCodec codec)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(codec.SubProtocol);
        await socket.ConnectAsync(url, CancellationToken.None);
        return new CodecSocket(socket, codec);
    }

    public async Task SendAsync(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        Codec.Write(frame, output);
        await Socket.SendAsync(output.WrittenMemory, Codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, CancellationToken.None);
    }

    public async Task<Frame> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var length = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(_buffer.AsMemory(length), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"closed: {Socket.CloseStatus}");
            }
            Assert.Equal(Codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, result.MessageType);
            length += result.Count;
            if (result.EndOfMessage)
            {
                return Codec.Read(_buffer.AsMemory(0, length));
            }
        }
    }

    public async Task<Frame> ReceiveUntilAsync(Func<Frame, bool> predicate)
    {
        while (true)
        {
            var frame = await ReceiveAsync();
            if (predicate(frame))
            {
                return frame;
            }
        }
    }

    public async Task<List<Frame>> ReceiveChangesAsync(int count)
    {
        var frames = new List<Frame>();
        while (frames.Count < count)
        {
            var frame = await ReceiveAsync();
            if (frame is ChangeFrame or RemovedFrame)
            {
                frames.Add(frame);
            }
        }
        return frames;
    }

    public async Task<WebSocketCloseStatus?> WaitClosedAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var result = await Socket.ReceiveAsync(_buffer.AsMemory(), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return Socket.CloseStatus;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State == WebSocketState.Open)
            {
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            }
        }
        catch (WebSocketException)
        {
        }
        Socket.Dispose();
    }
}
