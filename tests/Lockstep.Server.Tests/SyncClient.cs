using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Lockstep.Protocol;

namespace Lockstep.Server.Tests;

/// <summary>
/// A raw protocol client for tests: it speaks docs/protocol.md frame by frame, records every frame
/// it receives, and keeps a local view per subscription by applying snapshots and changes.
/// Frames travel in the connection's encoding (JSON unless <c>codec</c> is given) and are read through its
/// <see cref="IFrameCodec"/>; tests see each one as its canonical JSON spelling, whatever the encoding.
/// </summary>
public sealed class SyncClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);
    private readonly ClientWebSocket _socket;
    private readonly Channel<JsonObject> _frames = Channel.CreateUnbounded<JsonObject>();
    private readonly Dictionary<string, TaskCompletionSource<JsonObject>> _replies = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _send = new(1, 1);
    private Task _receiveLoop = Task.CompletedTask;
    private int _nextId;

    private SyncClient(ClientWebSocket socket, IFrameCodec codec)
    {
        _socket = socket;
        Codec = codec;
    }

    /// <summary>The encoding of this connection's frames.</summary>
    public IFrameCodec Codec { get; }

    /// <summary>Every frame received, as the codec read it, in arrival order.</summary>
    public List<Frame> Received { get; } = [];

    public JsonObject Welcome { get; private set; } = [];

    /// <summary>Every non-reply stream frame, in arrival order (also snapshots and subscribed frames).</summary>
    public List<JsonObject> Stream { get; } = [];

    /// <summary>The local view: subscription → document id → (version, body).</summary>
    public Dictionary<string, Dictionary<string, (long Version, JsonObject Doc)>> Views { get; } = [];

    /// <summary>Protocol violations seen while applying frames (gaps, backwards seqs, deltas for unknown docs).</summary>
    public List<string> Violations { get; } = [];

    /// <summary>The largest seq seen in stream frames.</summary>
    public long Cursor { get; private set; }

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public long BytesReceived { get; private set; }

    /// <summary>When false, the client stops reading the socket (a slow reader).</summary>
    public bool Reading { get; set; } = true;

    /// <param name="codec">The encoding, offered as its subprotocol; null: JSON with no subprotocol offered (a client of before §11).</param>
    public static async Task<SyncClient> ConnectAsync(Uri url, string? clientId = null, long? cursor = null, object[]? subs = null, bool hello = true,
        Dictionary<string, Dictionary<string, (long Version, JsonObject Doc)>>? views = null, string? token = null, IFrameCodec? codec = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (codec is not null)
        {
            socket.Options.AddSubProtocol(codec.SubProtocol);
        }
        await socket.ConnectAsync(url, CancellationToken.None);
        if (codec is not null && socket.SubProtocol != codec.SubProtocol)
        {
            socket.Dispose();
            throw new InvalidOperationException($"The server answered subprotocol '{socket.SubProtocol}' to {codec.SubProtocol}.");
        }
        var client = new SyncClient(socket, codec ?? FrameCodecs.Json);
        foreach (var (sub, view) in views ?? [])
        {
            client.Views[sub] = view.ToDictionary(p => p.Key, p => (p.Value.Version, p.Value.Doc.DeepClone().AsObject()));
        }
        client._receiveLoop = Task.Run(client.ReceiveLoopAsync);
        if (hello)
        {
            var request = new JsonObject { ["t"] = "hello", ["clientId"] = clientId, ["protocol"] = 1 };
            if (token is not null)
            {
                request["token"] = token;
            }
            if (cursor is not null)
            {
                request["cursor"] = cursor;
                request["subs"] = JsonSerializer.SerializeToNode(subs ?? []);
                client.Cursor = cursor.Value;
            }
            client.Welcome = await client.RequestAsync(request);
        }
        return client;
    }

    public Task SendRawAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Sends a frame given in its JSON spelling, in the connection's encoding: as it is on JSON (so a test may send
    /// anything), else read into its record and written by the codec (so it must be a well-formed frame).
    /// </summary>
    public Task SendFrameAsync(JsonObject frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var json = Encoding.UTF8.GetBytes(frame.ToJsonString());
        return Codec.IsBinary ? SendAsync(FrameCodecs.Json.Read(json)) : SendRawAsync(json);
    }

    /// <summary>Sends a frame record in the connection's encoding.</summary>
    public Task SendAsync(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        Codec.Write(frame, output);
        return SendRawAsync(output.WrittenSpan.ToArray(), Codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text);
    }

    public async Task SendRawAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, type, true, CancellationToken.None);
        }
        finally
        {
            _send.Release();
        }
    }

    /// <summary>Sends a request with a fresh id and waits for the reply with that id (the first one, for snapshots).</summary>
    public async Task<JsonObject> RequestAsync(JsonObject request, TimeSpan? timeout = null)
    {
        var id = "r" + Interlocked.Increment(ref _nextId);
        request["id"] = id;
        var reply = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _replies[id] = reply;
        }
        if (_receiveLoop.IsCompleted)
        {
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The connection is closed.");
        }
        await SendFrameAsync(request);
        return await reply.Task.WaitAsync(timeout ?? DefaultTimeout);
    }

    /// <summary>Subscribes and waits until the whole snapshot arrived; returns the snapshot's seq.</summary>
    public async Task<long> SubscribeAsync(string sub, string collection, object? filter = null)
    {
        var request = new JsonObject { ["t"] = "sub", ["sub"] = sub, ["collection"] = collection };
        if (filter is not null)
        {
            request["filter"] = JsonSerializer.SerializeToNode(filter);
        }
        var first = await RequestAsync(request);
        if ((string?)first["t"] != "snapshot")
        {
            throw new InvalidOperationException("Subscribe failed: " + first.ToJsonString());
        }
        await WaitForAsync(f => (string?)f["t"] == "snapshot" && (string?)f["sub"] == sub && (bool?)f["last"] == true);
        return (long)first["seq"]!;
    }

    public Task<JsonObject> MutateAsync(params object[] ops) => MutateAsync(null, ops);

    public Task<JsonObject> MutateAsync(long? mid, params object[] ops)
    {
        var request = new JsonObject { ["t"] = "mut", ["ops"] = JsonSerializer.SerializeToNode(ops) };
        if (mid is not null)
        {
            request["mid"] = mid;
        }
        return RequestAsync(request);
    }

    public Task<JsonObject> CallAsync(string name, object args, long? mid = null)
    {
        var request = new JsonObject { ["t"] = "call", ["name"] = name, ["args"] = JsonSerializer.SerializeToNode(args) };
        if (mid is not null)
        {
            request["mid"] = mid;
        }
        return RequestAsync(request);
    }

    /// <summary>Waits until a stream frame (already received or arriving) satisfies the predicate.</summary>
    public async Task<JsonObject> WaitForAsync(Func<JsonObject, bool> predicate, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        lock (_gate)
        {
            var found = Stream.FirstOrDefault(predicate);
            if (found is not null)
            {
                return found;
            }
        }
        try
        {
            while (true)
            {
                var frame = await _frames.Reader.ReadAsync(cts.Token);
                if (predicate(frame))
                {
                    return frame;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException((e is ChannelClosedException ? "The connection closed" : "Timed out") + " before a matching frame arrived; last frames: " +
                string.Join("\n", Stream.TakeLast(5).Select(f => f.ToJsonString())));
        }
    }

    /// <summary>Waits until the cursor reaches the seq.</summary>
    public Task WaitForSeqAsync(long seq, TimeSpan? timeout = null) =>
        WaitForAsync(f => f["seq"] is not null && (long)f["seq"]! >= seq && f["id"] is null || Cursor >= seq, timeout);

    public Task CloseAsync() => _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

    /// <summary>Drops the TCP connection without a closing handshake.</summary>
    public void Abort() => _socket.Abort();

    /// <summary>Waits for the server to close the connection; returns the close status.</summary>
    public async Task<WebSocketCloseStatus?> WaitClosedAsync(TimeSpan? timeout = null)
    {
        await _receiveLoop.WaitAsync(timeout ?? DefaultTimeout);
        return _socket.CloseStatus;
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open || _socket.State == WebSocketState.CloseSent)
            {
                while (!Reading)
                {
                    await Task.Delay(20, _stop.Token);
                }
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                BytesReceived += message.Length + (message.Length < 126 ? 2 : message.Length < 65536 ? 4 : 10);
                var frame = Decode(result.MessageType, message.ToArray());
                message.SetLength(0);
                if (frame is not null)
                {
                    Handle(frame);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            _frames.Writer.TryComplete();
            // Requests still waiting for a reply will not get one: fail them now rather than at their timeout.
            List<TaskCompletionSource<JsonObject>> orphans;
            lock (_gate)
            {
                orphans = [.. _replies.Values];
                _replies.Clear();
            }
            foreach (var orphan in orphans)
            {
                orphan.TrySetException(new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The connection closed before the reply arrived."));
            }
        }
    }

    /// <summary>
    /// Reads a message through the codec and spells the record in canonical JSON for the tests. What the codec
    /// refuses (or a message of the wrong kind) is a violation; its JSON view, if it has one, is still handed on.
    /// </summary>
    private JsonObject? Decode(WebSocketMessageType type, byte[] message)
    {
        if (type != (Codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text))
        {
            lock (_gate)
            {
                Violations.Add($"A {type} message on a {Codec.SubProtocol} connection.");
            }
        }
        try
        {
            var record = Codec.Read(message);
            var output = new ArrayBufferWriter<byte>(message.Length + 64);
            FrameCodecs.Json.Write(record, output);
            lock (_gate)
            {
                Received.Add(record);
            }
            return JsonNode.Parse(output.WrittenSpan)!.AsObject();
        }
        catch (FrameFormatException e)
        {
            lock (_gate)
            {
                Violations.Add($"A frame the codec cannot read ({e.Code.Code}: {e.Message}).");
            }
            try
            {
                return JsonNode.Parse(Codec.ToJson(message, new ArrayBufferWriter<byte>()).Span) as JsonObject;
            }
            catch (Exception inner) when (inner is FrameFormatException or JsonException)
            {
                return null;
            }
        }
    }

    private void Handle(JsonObject frame)
    {
        var type = (string?)frame["t"];
        var id = frame["id"]?.ToString();
        TaskCompletionSource<JsonObject>? reply = null;
        lock (_gate)
        {
            if (id is not null && _replies.Remove(id, out reply))
            {
                // the first frame answering a request completes it
            }
            if (type is "snapshot" or "subscribed" or "chg" or "removed" or "pos")
            {
                try
                {
                    Apply(frame, type);
                }
                catch (InvalidOperationException e)
                {
                    Violations.Add(e.Message);
                }
                Stream.Add(frame);
            }
            else if (reply is null && type == "error")
            {
                Stream.Add(frame);
            }
        }
        reply?.TrySetResult(frame);
        _frames.Writer.TryWrite(frame);
    }

    private void Apply(JsonObject frame, string type)
    {
        var seq = (long)frame["seq"]!;
        if (seq < Cursor && type != "subscribed")
        {
            throw new InvalidOperationException($"Stream went backwards: {seq} after {Cursor}: {frame.ToJsonString()}");
        }
        Cursor = Math.Max(Cursor, seq);
        if (type == "pos")
        {
            return;
        }
        var sub = (string)frame["sub"]!;
        if (!Views.TryGetValue(sub, out var view))
        {
            Views[sub] = view = [];
        }
        switch (type)
        {
            case "snapshot":
                if ((bool?)frame["reset"] == true)
                {
                    view.Clear();
                }
                foreach (var d in frame["docs"]!.AsArray())
                {
                    view[(string)d!["id"]!] = ((long)d["v"]!, d["doc"]!.DeepClone().AsObject());
                }
                break;
            case "removed":
                view.Remove((string)frame["id"]!);
                break;
            case "chg":
                var docId = (string)frame["id"]!;
                var v = (long)frame["v"]!;
                if ((bool?)frame["del"] == true)
                {
                    view.Remove(docId);
                }
                else if (frame["doc"] is JsonObject whole)
                {
                    view[docId] = (v, whole.DeepClone().AsObject());
                }
                else
                {
                    if (!view.TryGetValue(docId, out var held))
                    {
                        throw new InvalidOperationException($"Delta for a document the client does not hold: {frame.ToJsonString()}");
                    }
                    if (v != held.Version + 1)
                    {
                        throw new InvalidOperationException($"Version gap: held {held.Version}, got {frame.ToJsonString()}");
                    }
                    var doc = held.Doc;
                    var unset = frame["unset"]?.AsArray().Select(n => (string)n!).ToList() ?? [];
                    var set = frame["set"]!.AsObject().Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone())).ToList();
                    new Lockstep.Core.Delta(set, unset).ApplyTo(doc);
                    view[docId] = (v, doc);
                }
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        _socket.Abort();
        try
        {
            await _receiveLoop;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        _socket.Dispose();
        _stop.Dispose();
        _invoker?.Dispose();
    }

    /// <summary>The HTTP stack a socket opened from a chosen address was upgraded through.</summary>
    private HttpMessageInvoker? _invoker;

    /// <summary>Connects and says hello from a chosen local address (any of 127.0.0.0/8 on Linux), as a client on another machine would.</summary>
    public static async Task<SyncClient> ConnectFromAsync(Uri url, System.Net.IPAddress from)
    {
        var (socket, invoker) = await OpenFromAsync(url, from);
        var client = new SyncClient(socket, FrameCodecs.Json) { _invoker = invoker };
        client._receiveLoop = Task.Run(client.ReceiveLoopAsync);
        client.Welcome = await client.RequestAsync(new JsonObject { ["t"] = "hello", ["protocol"] = 1 });
        return client;
    }

    /// <summary>Upgrades a WebSocket from a chosen local address and sends nothing; dispose both when done.</summary>
    public static async Task<(ClientWebSocket Socket, HttpMessageInvoker Invoker)> OpenFromAsync(Uri url, System.Net.IPAddress from)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var tcp = new System.Net.Sockets.Socket(from.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                try
                {
                    tcp.Bind(new System.Net.IPEndPoint(from, 0));
                    await tcp.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new System.Net.Sockets.NetworkStream(tcp, ownsSocket: true);
                }
                catch
                {
                    tcp.Dispose();
                    throw;
                }
            },
        };
        var invoker = new HttpMessageInvoker(handler);
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        try
        {
            await socket.ConnectAsync(url, invoker, CancellationToken.None);
            return (socket, invoker);
        }
        catch
        {
            socket.Dispose();
            invoker.Dispose();
            throw;
        }
    }
}
