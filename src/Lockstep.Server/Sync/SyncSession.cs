using System.Net.WebSockets;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>
/// One WebSocket connection, in parts: the <see cref="FrameReader"/> reads whole messages, the
/// <see cref="HelloHandshake"/> judges the first, the <see cref="RequestDispatcher"/> answers or hands on every
/// request after it, and the <see cref="SessionStream"/>'s pump sends the connection's stream (snapshots, changes,
/// positions) in seq order from its bounded <see cref="StreamInbox"/>. The session runs the receive loop and its
/// checks on the server's one <see cref="SessionTimer"/> (idle and frame timeouts, heartbeat ticks), and sends
/// replies and stream frames one at a time under a send lock in the connection's encoding.
/// </summary>
internal sealed class SyncSession : ISessionPeer, ITimedSession, IDisposable
{
    private readonly WebSocket _socket;
    private readonly SessionServices _services;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly RequestBudget _budget;
    private readonly RequestDispatcher _dispatcher;
    private readonly SessionStream _stream;
    private readonly IFrameCodec _codec;
    private readonly FrameBuffer _sendBuffer;
    private readonly CancellationTokenSource _closing;
    private readonly CancellationTokenRegistration _shutdown;
    private readonly CancellationTokenRegistration _abortOnClosing;
    private readonly FrameReader _reader;
    private int _closeStarted;

    /// <summary>Who is on the other end: from the upgrade request's Authorization header, else from the hello's token.</summary>
    private Caller? _caller;
    private readonly System.Net.IPAddress? _remoteAddress;

    /// <summary>Times frames as their bytes cross the wire (null when the socket was not built on a clocked stream).</summary>
    private readonly InboundFrameClock? _wireClock;

    public SyncSession(WebSocket socket, SessionServices services, Caller? caller,
        System.Net.IPAddress? remoteAddress, InboundFrameClock? wireClock, IFrameCodec codec, CancellationToken aborted)
    {
        _codec = codec;
        _sendBuffer = new FrameBuffer(codec);
        _wireClock = wireClock;
        _caller = caller;
        _remoteAddress = remoteAddress;
        _socket = socket;
        _services = services;
        _options = services.Options;
        _logger = services.Logger;
        _time = services.Time;
        _closing = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        // Sends take no token (EncodeAndSendAsync): closing aborts the socket, which ends a pending send or receive.
        _abortOnClosing = _closing.Token.Register(static s => ((WebSocket)s!).Abort(), socket);
        // On shutdown, say goodbye with 1001 (cancelling a pending receive would abort the socket
        // instead, and the client would see a reset rather than "going away").
        _shutdown = services.Lifetime.ClosingConnections.Register(() => _ = CloseAsync(CloseCodes.GoingAway, ErrorCodes.ShuttingDown.Code));
        Id = "s-" + Guid.NewGuid().ToString("N")[..12];
        _reader = new FrameReader(socket, codec, _options.MaxFrameBytes, _time);
        _budget = new RequestBudget(_options.MaxFilterBytesPerConnection);
        _dispatcher = new RequestDispatcher(this, services, _reader, _budget, remoteAddress);
        _stream = new SessionStream(this, services, _budget);
    }

    public string Id { get; }

    /// <summary>Who is on the other end (set by the hello).</summary>
    public Caller? Caller => _caller;

    /// <summary>Queues a command for the pump.</summary>
    public void Enqueue(SessionCommand command) => _stream.Enqueue(command);

    public string? ClientId { get; private set; }

    /// <summary>The connection's place in the server's limits: pending until the hello succeeds.</summary>
    public ConnectionSlot? Slot { get; init; }

    /// <summary>The client id this session counts against <see cref="LockstepOptions.MaxConnectionsPerClient"/>.</summary>
    private string? _countedClient;

    /// <summary>Runs the connection until it closes.</summary>
    public async Task RunAsync()
    {
        var token = _closing.Token;
        Task pump = Task.CompletedTask;
        try
        {
            if (!await HelloAsync(token))
            {
                return;
            }
            pump = _stream.StartPump(token);
            _lastTick = _time.GetTimestamp();
            _services.Timer.Add(this);
            if (_caller?.Expires is { } expires)
            {
                _ = ExpireAsync(expires, token);
            }
            await ReceiveLoopAsync(token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            Log.SessionClosed(_logger, Id, e.GetType().Name);
        }
        catch (Exception e)
        {
            Log.SessionFailed(_logger, e, Id);
            await CloseAsync(CloseCodes.InternalError, ErrorCodes.InternalError.Code);
        }
        finally
        {
            _services.FanOut.Remove(_stream.Listener);
            if (_countedClient is not null)
            {
                _services.Admission.CloseClient(_countedClient);
            }
            await _shutdown.DisposeAsync();
            if (Volatile.Read(ref _closeStarted) != 0 && _socket.State == WebSocketState.CloseSent)
            {
                // Let the client read what was sent and answer the close: aborting now would reset the
                // connection and could discard the error frame that explains the close.
                await Quietly(DrainUntilClosedAsync(_closing.Token));
            }
            await _closing.CancelAsync();
            _stream.Complete();
            _services.Timer.Remove(this);
            await Quietly(pump);
            _socket.Abort();
            Dispose();
        }
    }

    /// <summary>Releases the session's buffers and locks; called when <see cref="RunAsync"/> ends.</summary>
    public void Dispose()
    {
        _abortOnClosing.Dispose();
        _closing.Dispose();
        _sendLock.Dispose();
        _dispatcher.Dispose();
        _budget.Dispose();
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // the loop's failure already ended the session
        }
    }

    /// <summary>Starts the closing handshake once; the receive loop ends when the client answers or the grace period runs out.</summary>
    public async Task CloseAsync(int code, string reason)
    {
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0)
        {
            return;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _sendLock.WaitAsync(timeout.Token);
            try
            {
                if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await _socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        // Give the client a moment to answer the close, then stop everything.
        _closing.CancelAfter(TimeSpan.FromSeconds(2));
    }

    /// <summary>Sends a frame of the stream; the caller must not hold the send lock.</summary>
    public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken) => EncodeAndSendAsync(frame, cancellationToken);

    /// <summary>The WebSocket message type of this connection's encoding.</summary>
    private WebSocketMessageType MessageType => _codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;

    /// <summary>Sends a reply; the caller must not hold the send lock.</summary>
    public ValueTask ReplyAsync(Frame frame, CancellationToken cancellationToken) => EncodeAndSendAsync(frame, cancellationToken);

    /// <inheritdoc />
    public IFrameCodec Codec => _codec;

    /// <inheritdoc />
    public ValueTask SendSharedAsync(SharedFrame frame, string sub, CancellationToken cancellationToken) =>
        EncodeAndSendAsync((frame, sub), static (buffer, shared) => buffer.Encode(shared.frame, shared.sub), cancellationToken);

    /// <summary>Encodes a frame in the connection's one send buffer and sends it, both under the send lock; the buffer goes back to the pool after.</summary>
    private ValueTask EncodeAndSendAsync(Frame frame, CancellationToken cancellationToken) =>
        EncodeAndSendAsync(frame, static (buffer, f) => buffer.Encode(f), cancellationToken);

    private async ValueTask EncodeAndSendAsync<T>(T frame, Func<FrameBuffer, T, ReadOnlyMemory<byte>> encode, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            // No token for the send itself: a cancellable send takes the WebSocket's slow path (a registration and
            // a state machine per frame); a send stuck on a reader that stopped reading ends when the session
            // aborts the socket (_closing, registered in the constructor), as a cancelled send would.
            await _socket.SendAsync(encode(_sendBuffer, frame), MessageType, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sendBuffer.Release();
            _sendLock.Release();
        }
    }

    /// <summary>Closes the connection when its credentials expire: the client reconnects with a fresh token (the SDKs ask their token provider at every connection).</summary>
    private async Task ExpireAsync(DateTimeOffset expires, CancellationToken cancellationToken)
    {
        try
        {
            var delay = expires - _time.GetUtcNow();
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _time, cancellationToken);
            }
            Log.SessionClosed(_logger, Id, "token expired");
            await this.ReplyErrorAsync(default, ErrorCodes.TokenExpired, "The token expired; reconnect with a fresh one.", cancellationToken);
            await CloseAsync(CloseCodes.TokenExpired, ErrorCodes.TokenExpired.Code);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // the session ended first
        }
    }

    /// <summary>
    /// True when a frame began longer than <see cref="LockstepOptions.FrameTimeout"/> ago and is not whole:
    /// a message sent in pieces (seen by the receive loop), or one WebSocket frame whose bytes trickle in
    /// (seen only on the wire, since a receive returns nothing until its buffer fills or the frame ends).
    /// </summary>
    private bool FrameOverdue()
    {
        var message = _reader.FrameStarted;
        var wire = _wireClock?.FrameStarted ?? 0;
        return (message != 0 && _time.GetElapsedTime(message) > _options.FrameTimeout)
            || (wire != 0 && _time.GetElapsedTime(wire) > _options.FrameTimeout);
    }

    /// <summary>When the last heartbeat tick was queued (the shared timer's).</summary>
    private long _lastTick;

    /// <inheritdoc />
    public bool OnTick()
    {
        if (_closing.IsCancellationRequested || Volatile.Read(ref _closeStarted) != 0)
        {
            return false;
        }
        if (FrameOverdue())
        {
            Log.SessionClosed(_logger, Id, "frame timeout");
            _ = FrameTimeoutAsync();
            return false;
        }
        if (_time.GetElapsedTime(_reader.LastReceived) > _options.IdleTimeout)
        {
            Log.SessionClosed(_logger, Id, "idle timeout");
            _ = CloseAsync(CloseCodes.IdleTimeout, ErrorCodes.IdleTimeout.Code);
            return false;
        }
        if (_time.GetElapsedTime(_lastTick) >= _options.HeartbeatInterval)
        {
            _lastTick = _time.GetTimestamp();
            _stream.Enqueue(new TickCommand(_services.FanOut.Head));
        }
        return true;
    }

    private async Task FrameTimeoutAsync()
    {
        try
        {
            await this.ReplyErrorAsync(default, ErrorCodes.FrameTimeout, $"A frame must arrive whole within {_options.FrameTimeout.TotalSeconds} s.", _closing.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // closing anyway
        }
        await CloseAsync(CloseCodes.FrameTimeout, ErrorCodes.FrameTimeout.Code);
    }

    /// <summary>Reads one whole message; null when the connection closed (or was closed for a bad frame).</summary>
    private async Task<ReadOnlyMemory<byte>?> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        switch (await _reader.ReceiveAsync(cancellationToken))
        {
            case FrameReadOutcome.Frame:
                return _reader.Message;
            case FrameReadOutcome.TooLarge:
                Log.BadFrame(_logger, Id, ErrorCodes.FrameTooLarge.Code, $"over {_options.MaxFrameBytes} bytes");
                await this.ReplyErrorAsync(default, ErrorCodes.FrameTooLarge, $"Frames are limited to {_options.MaxFrameBytes} bytes.", cancellationToken);
                await CloseAsync(CloseCodes.MessageTooBig, ErrorCodes.FrameTooLarge.Code);
                return null;
            case FrameReadOutcome.WrongType:
                await CloseAsync(CloseCodes.UnsupportedData, _codec.IsBinary ? "binary frames only" : "text frames only");
                return null;
            default:
                await CloseAsync(CloseCodes.Normal, "bye");
                return null;
        }
    }

    private async Task<bool> HelloAsync(CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte>? frame;
        // The receive is not cancelled at the deadline (that would abort the socket): the late client is
        // refused like any hello, with an error and 1008, while the receive waits for its close.
        var receive = ReceiveFrameAsync(cancellationToken);
        using (var stopDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var deadline = Task.Delay(_options.HelloTimeout, _time, stopDeadline.Token);
            if (await Task.WhenAny(receive, deadline) == deadline && deadline.IsCompletedSuccessfully)
            {
                Log.SessionClosed(_logger, Id, "no hello in time");
                await this.ReplyErrorAsync(default, ErrorCodes.HelloRequired, $"The first frame must be a hello, within {_options.HelloTimeout.TotalSeconds} s.", cancellationToken);
                await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.HelloRequired.Code);
                await Quietly(receive);
                return false;
            }
            await stopDeadline.CancelAsync();
        }
        frame = await receive;
        if (frame is null)
        {
            return false;
        }
        if (!_reader.TryCanonical(frame.Value, out var json, out var malformed))
        {
            // Not even a MessagePack frame with a known type: no hello, as for JSON that is no frame.
            Log.BadFrame(_logger, Id, malformed.Error.Code, malformed.Message);
            await this.ReplyErrorAsync(default, ErrorCodes.HelloRequired, "The first frame must be a hello.", cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.HelloRequired.Code);
            return false;
        }
        using var doc = FrameParser.TryParse(json, out var defect, out var defectId);
        if (doc is null)
        {
            // Well-formed JSON holding a lone surrogate or 1e400 is refused for what it is; anything else is no hello.
            var refusal = defect!.Error == ErrorCodes.BadFrame && defectId.ValueKind == JsonValueKind.Undefined
                ? new Rejection(ErrorCodes.HelloRequired, "The first frame must be a hello.")
                : defect;
            Log.BadFrame(_logger, Id, refusal.Error.Code, defect.Message);
            await this.ReplyErrorAsync(defectId, refusal, cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, refusal.Error.Code);
            return false;
        }
        var root = doc.RootElement;
        var id = RequestReader.RequestId(root);
        if (RequestReader.Type(root) != MessageTypes.Hello || id.ValueKind == JsonValueKind.Undefined)
        {
            await this.ReplyErrorAsync(id, ErrorCodes.HelloRequired, "The first frame must be a hello.", cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.HelloRequired.Code);
            return false;
        }
        var (accepted, refused) = await new HelloHandshake(_options, _services.Authenticator, _services.Access, _services.Admission).CheckAsync(root, _caller, Slot);
        if (refused is not null)
        {
            if (refused.Rejection.Error == ErrorCodes.Unauthorized)
            {
                Log.SessionRefused(_logger, Id, refused.Rejection.Message);
            }
            await this.ReplyErrorAsync(id, refused.Rejection, cancellationToken);
            await CloseAsync(refused.CloseCode, refused.Rejection.Error.Code);
            return false;
        }
        _caller = accepted!.Caller;
        var clientId = accepted.ClientId;
        var cursor = accepted.Cursor;
        var subs = accepted.Subs;
        _countedClient = clientId;
        ClientId = clientId;
        var head = _services.FanOut.Head;
        var horizon = _services.Horizon.Value;
        if (cursor > head && _services.IsClustered)
        {
            // A client failing over from a node that was a little ahead: its cursor is in the shared
            // log even if this node has not published that far yet.
            await using var reader = await _services.Store.BeginReadAsync(cancellationToken);
            head = Math.Max(head, reader.Head);
        }
        bool? resumable = cursor is { } c ? c >= horizon && c <= head : null;
        _stream.Position = resumable == true ? cursor!.Value : head;
        Log.SessionOpened(_logger, Id, clientId);
        await ReplyAsync(new WelcomeFrame(Frames.Id(id), Id, head, horizon, _stream.Position)
        {
            Resumable = resumable,
            HeartbeatMs = (long)_options.HeartbeatInterval.TotalMilliseconds,
            IdleTimeoutMs = (long)_options.IdleTimeout.TotalMilliseconds,
            MaxFrameBytes = _options.MaxFrameBytes,
            Protocol = FrameParser.ProtocolVersion,
        }, cancellationToken);
        if (subs.Count > 0)
        {
            if (resumable == true)
            {
                _stream.Enqueue(new ResumeCommand(id, subs));
            }
            else
            {
                foreach (var sub in subs)
                {
                    _stream.Enqueue(new SubscribeCommand(id, sub, Reset: true));
                }
            }
        }
        return true;
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var frame = await ReceiveFrameAsync(cancellationToken);
                if (frame is null)
                {
                    // Wait for the peer's close (or the grace period) before returning.
                    await DrainUntilClosedAsync(cancellationToken);
                    return;
                }
                await _dispatcher.DispatchAsync(frame.Value, cancellationToken);
            }
        }
        finally
        {
            _reader.Dispose();
        }
    }

    private async Task DrainUntilClosedAsync(CancellationToken cancellationToken)
    {
        var scratch = new byte[1024];
        while (_socket.State == WebSocketState.CloseSent || _socket.State == WebSocketState.Open)
        {
            var result = await _socket.ReceiveAsync(scratch.AsMemory(), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
        }
    }
}
