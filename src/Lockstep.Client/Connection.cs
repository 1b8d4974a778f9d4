using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using System.Threading.Channels;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>One WebSocket connection: a single writer loop (so frames leave in the order they were queued) and a reader, both through the connection's codec.</summary>
internal sealed class Connection : IDisposable
{
    private const int MaxMessageBytes = 64 << 20;
    private readonly ClientWebSocket _socket;
    private readonly IFrameCodec _codec;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private long _lastReceived = Environment.TickCount64;
    private long _nextRequest;

    public Connection(ClientWebSocket socket, IFrameCodec codec, Uri url, WelcomeFrame welcome)
    {
        _socket = socket;
        _codec = codec;
        Url = url;
        Welcome = welcome;
    }

    public Uri Url { get; }

    public WelcomeFrame Welcome { get; }

    public long LastReceived => Interlocked.Read(ref _lastReceived);

    public CancellationToken Stopping => _stop.Token;

    /// <summary>The largest frame the server takes (<c>welcome.maxFrameBytes</c>).</summary>
    public long MaxFrameBytes => Welcome.MaxFrameBytes > 0 ? Welcome.MaxFrameBytes : long.MaxValue;

    public void Send(Frame frame) => _outgoing.Writer.TryWrite(Encode(_codec, frame));

    /// <summary>Sends a write; false (nothing sent) when its frame is over the server's limit.</summary>
    public bool SendWrite(PendingWrite pending)
    {
        var bytes = Encode(_codec, pending.Frame);
        // The server would close the connection without saying which write it was: refuse it here.
        if (bytes.Length > MaxFrameBytes)
        {
            return false;
        }
        pending.SentAt = Environment.TickCount64;
        _outgoing.Writer.TryWrite(bytes);
        return true;
    }

    public void SendSubscribe(SubscriptionState sub)
    {
        sub.Requested = true;
        Send(new SubscribeFrame(RawJson.FromString(RequestIds.Subscribe + sub.Name), sub.ToSpec()));
    }

    public void SendUnsubscribe(SubscriptionState sub) => Send(new UnsubscribeFrame(NextId(RequestIds.Unsubscribe), sub.Name));

    public void SendPing() => Send(new PingFrame(NextId(RequestIds.Ping)));

    private RawJson NextId(string prefix) =>
        RawJson.FromString(prefix + Interlocked.Increment(ref _nextRequest).ToString(CultureInfo.InvariantCulture));

    /// <summary>Gives the connection up at once (a dead or misbehaving peer, or disposal).</summary>
    public void Abort()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Abort();
    }

    public async Task SendLoopAsync()
    {
        var token = _stop.Token;
        var type = MessageType(_codec);
        await foreach (var bytes in _outgoing.Reader.ReadAllAsync(token).ConfigureAwait(false))
        {
            await _socket.SendAsync(bytes, type, endOfMessage: true, token).ConfigureAwait(false);
        }
    }

    /// <summary>Reads frames until the connection ends; hands each to <paramref name="handle"/>.</summary>
    public async Task ReceiveLoopAsync(Func<Frame, bool> handle)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var frame = await ReceiveAsync(_socket, _codec, token, () => Interlocked.Exchange(ref _lastReceived, Environment.TickCount64)).ConfigureAwait(false);
            if (frame is null)
            {
                throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely,
                    $"The server closed the connection ({(int?)_socket.CloseStatus} {_socket.CloseStatusDescription}).");
            }
            if (!handle(frame))
            {
                return;
            }
        }
    }

    /// <summary>Sends one frame on a socket no loop owns yet (the hello).</summary>
    public static Task SendAsync(ClientWebSocket socket, IFrameCodec codec, Frame frame, CancellationToken cancellationToken) =>
        socket.SendAsync(Encode(codec, frame), MessageType(codec), endOfMessage: true, cancellationToken);

    /// <summary>
    /// Reads the next frame; null when the peer closed. Frame types of later protocol versions are skipped;
    /// anything else the codec cannot read ends the connection.
    /// </summary>
    public static async Task<Frame?> ReceiveAsync(ClientWebSocket socket, IFrameCodec codec, CancellationToken cancellationToken, Action? received = null)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var message = new ArrayBufferWriter<byte>(16 * 1024);
        var expected = MessageType(codec);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                received?.Invoke();
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                if (result.MessageType != expected)
                {
                    throw new InvalidDataException($"The server sent a {result.MessageType} message on a {codec.SubProtocol} connection.");
                }
                if (message.WrittenCount + result.Count > MaxMessageBytes)
                {
                    throw new InvalidDataException($"The server sent a frame over {MaxMessageBytes} bytes.");
                }
                message.Write(buffer.AsSpan(0, result.Count));
                if (!result.EndOfMessage)
                {
                    continue;
                }
                try
                {
                    return codec.Read(message.WrittenMemory);
                }
                catch (FrameFormatException e) when (e.Code == ErrorCodes.UnknownType)
                {
                    message.ResetWrittenCount();
                }
                catch (FrameFormatException e)
                {
                    throw new InvalidDataException($"The server sent a frame this client cannot read: {e.Message}", e);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static WebSocketMessageType MessageType(IFrameCodec codec) => codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;

    private static byte[] Encode(IFrameCodec codec, Frame frame)
    {
        var output = new ArrayBufferWriter<byte>(256);
        codec.Write(frame, output);
        return output.WrittenSpan.ToArray();
    }

    public void Dispose()
    {
        _outgoing.Writer.TryComplete();
        _stop.Dispose();
        _socket.Dispose();
    }
}
