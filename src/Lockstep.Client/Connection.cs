using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Lockstep.Client;

/// <summary>One WebSocket connection: a single writer loop (so frames leave in the order they were queued) and a reader.</summary>
internal sealed class Connection : IDisposable
{
    private const int MaxMessageBytes = 64 << 20;
    private readonly ClientWebSocket _socket;
    private readonly Channel<string> _outgoing = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private long _lastReceived = Environment.TickCount64;
    private long _nextRequest;

    public Connection(ClientWebSocket socket, Uri url, JsonObject welcome)
    {
        _socket = socket;
        Url = url;
        Welcome = welcome;
    }

    public Uri Url { get; }

    public JsonObject Welcome { get; }

    public long LastReceived => Interlocked.Read(ref _lastReceived);

    public CancellationToken Stopping => _stop.Token;

    public void Send(JsonObject frame) => _outgoing.Writer.TryWrite(frame.ToJsonString());

    /// <summary>The largest frame the server takes (<c>welcome.maxFrameBytes</c>).</summary>
    public long MaxFrameBytes => (long?)Welcome["maxFrameBytes"] ?? long.MaxValue;

    /// <summary>Sends a write; false (nothing sent) when its frame is over the server's limit.</summary>
    public bool SendWrite(PendingWrite pending)
    {
        pending.Frame["id"] = "m" + pending.Mid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var text = pending.Frame.ToJsonString();
        // The server would close the connection without saying which write it was: refuse it here.
        if (System.Text.Encoding.UTF8.GetByteCount(text) > MaxFrameBytes)
        {
            return false;
        }
        pending.SentAt = Environment.TickCount64;
        _outgoing.Writer.TryWrite(text);
        return true;
    }

    public void SendSubscribe(SubscriptionState sub)
    {
        sub.Requested = true;
        var frame = sub.ToHelloEntry();
        frame["t"] = "sub";
        frame["id"] = "s:" + sub.Name;
        Send(frame);
    }

    public void SendUnsubscribe(SubscriptionState sub) =>
        Send(new JsonObject { ["t"] = "unsub", ["id"] = "u" + Interlocked.Increment(ref _nextRequest), ["sub"] = sub.Name });

    public void SendPing() => Send(new JsonObject { ["t"] = "ping", ["id"] = "p" + Interlocked.Increment(ref _nextRequest) });

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
        await foreach (var text in _outgoing.Reader.ReadAllAsync(token).ConfigureAwait(false))
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, token).ConfigureAwait(false);
        }
    }

    /// <summary>Reads frames until the connection ends; hands each to <paramref name="handle"/>.</summary>
    public async Task ReceiveLoopAsync(Func<JsonObject, bool> handle)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var frame = await ReceiveAsync(_socket, token).ConfigureAwait(false);
            Interlocked.Exchange(ref _lastReceived, Environment.TickCount64);
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

    /// <summary>Reads one text frame as a JSON object; null when the peer closed.</summary>
    public static async Task<JsonObject?> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var message = new ArrayBufferWriter<byte>(16 * 1024);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                if (message.WrittenCount + result.Count > MaxMessageBytes)
                {
                    throw new InvalidDataException($"The server sent a frame over {MaxMessageBytes} bytes.");
                }
                message.Write(buffer.AsSpan(0, result.Count));
                if (result.EndOfMessage)
                {
                    return JsonNode.Parse(message.WrittenSpan) as JsonObject
                        ?? throw new InvalidDataException("The server sent a frame that is not a JSON object.");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _outgoing.Writer.TryComplete();
        _stop.Dispose();
        _socket.Dispose();
    }
}
