using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

internal sealed partial class SyncSession
{
    private byte[] _receiveBuffer = ArrayPool<byte>.Shared.Rent(16 * 1024);

    /// <summary>When the first piece of a message still incomplete arrived (a timestamp), or 0.</summary>
    private long _frameStarted;

    /// <summary>Reads one whole message; null when the connection closed (or was closed for a bad frame).</summary>
    private async Task<ReadOnlyMemory<byte>?> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == _receiveBuffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(_receiveBuffer.Length * 2, _options.MaxFrameBytes + 1));
                _receiveBuffer.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_receiveBuffer);
                _receiveBuffer = bigger;
            }
            var result = await _socket.ReceiveAsync(_receiveBuffer.AsMemory(length), cancellationToken);
            var now = _time.GetTimestamp();
            Interlocked.Exchange(ref _lastReceived, now);
            // A message arriving in pieces is timed from its first piece (FrameTimeout, checked by the timer).
            Interlocked.Exchange(ref _frameStarted, result.EndOfMessage ? 0 : length == 0 ? now : Interlocked.Read(ref _frameStarted));
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await CloseAsync(CloseCodes.Normal, "bye");
                return null;
            }
            length += result.Count;
            if (length > _options.MaxFrameBytes)
            {
                Log.BadFrame(_logger, Id, ErrorCodes.FrameTooLarge.Code, $"over {_options.MaxFrameBytes} bytes");
                await ReplyErrorAsync(default, ErrorCodes.FrameTooLarge, $"Frames are limited to {_options.MaxFrameBytes} bytes.", cancellationToken);
                await CloseAsync(CloseCodes.MessageTooBig, ErrorCodes.FrameTooLarge.Code);
                return null;
            }
            if (result.MessageType != MessageType)
            {
                // A text frame on a MessagePack connection, a binary one on a JSON connection (docs/protocol.md §2, §11).
                await CloseAsync(CloseCodes.UnsupportedData, _codec.IsBinary ? "binary frames only" : "text frames only");
                return null;
            }
            if (result.EndOfMessage)
            {
                return _receiveBuffer.AsMemory(0, length);
            }
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
                await ReplyErrorAsync(default, ErrorCodes.HelloRequired, $"The first frame must be a hello, within {_options.HelloTimeout.TotalSeconds} s.", cancellationToken);
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
        if (!TryCanonical(frame.Value, out var json, out var malformed))
        {
            // Not even a MessagePack frame with a known type: no hello, as for JSON that is no frame.
            Log.BadFrame(_logger, Id, malformed.Error.Code, malformed.Message);
            await ReplyErrorAsync(default, ErrorCodes.HelloRequired, "The first frame must be a hello.", cancellationToken);
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
            await ReplyErrorAsync(defectId, refusal, cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, refusal.Error.Code);
            return false;
        }
        var root = doc.RootElement;
        var id = RequestReader.RequestId(root);
        if (RequestReader.Type(root) != MessageTypes.Hello || id.ValueKind == JsonValueKind.Undefined)
        {
            await ReplyErrorAsync(id, ErrorCodes.HelloRequired, "The first frame must be a hello.", cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.HelloRequired.Code);
            return false;
        }
        if (!FrameParser.TryParseHello(root, _options.FilterLimits, out var hello, out var subs, out var rejection))
        {
            await ReplyErrorAsync(id, rejection!, cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, rejection!.Error.Code);
            return false;
        }
        if (_caller is null)
        {
            var (caller, refusal) = await LockstepAuthentication.AuthenticateTokenAsync(hello!.Token, _services, _engine);
            if (caller is null)
            {
                Log.SessionRefused(_logger, Id, refusal!);
                await ReplyErrorAsync(id, ErrorCodes.Unauthorized, refusal!, cancellationToken);
                await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.Unauthorized.Code);
                return false;
            }
            _caller = caller;
        }
        var clientId = hello!.ClientId;
        var cursor = hello.Cursor;
        for (var i = 0; i < subs.Count; i++)
        {
            var grant = _engine.Access.Read(_caller, subs[i].Collection);
            if (grant.None)
            {
                await ReplyErrorAsync(id, ErrorCodes.Forbidden, $"You may not read '{subs[i].Collection}' (subscription '{subs[i].Id}').", cancellationToken);
                await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.Forbidden.Code);
                return false;
            }
            subs[i] = subs[i] with { Access = grant };
        }
        if (clientId is not null)
        {
            clientId = _caller.ScopeClientId(clientId);
        }
        if (subs.Count > _options.MaxSubscriptionsPerConnection)
        {
            await ReplyErrorAsync(id, ErrorCodes.TooManySubscriptions,
                $"A connection may hold {_options.MaxSubscriptionsPerConnection} subscriptions; the hello resumes {subs.Count}.", cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.TooManySubscriptions.Code);
            return false;
        }
        if (subs.Sum(s => (long)s.Filter.Bytes) is var filterBytes && filterBytes > _options.MaxFilterBytesPerConnection)
        {
            await ReplyErrorAsync(id, ErrorCodes.TooManySubscriptions,
                $"A connection's filters may hold {_options.MaxFilterBytesPerConnection} bytes together; the hello resumes {filterBytes}.", cancellationToken);
            await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.TooManySubscriptions.Code);
            return false;
        }
        if (clientId is not null)
        {
            if (!_engine.TryOpenClientConnection(clientId))
            {
                await ReplyErrorAsync(id, ErrorCodes.TooManyConnections,
                    $"Client '{clientId}' already has {_options.MaxConnectionsPerClient} connections open.", cancellationToken);
                await CloseAsync(CloseCodes.PolicyViolation, ErrorCodes.TooManyConnections.Code);
                return false;
            }
            _countedClient = clientId;
        }
        if (Slot is not null && !Slot.TryEstablish())
        {
            // The sessions filled up between the upgrade and this hello.
            await ReplyErrorAsync(id, ErrorCodes.Overloaded,
                $"This server holds its limit of {_engine.Admission.MaxSessions} connections; retry with backoff, or another node.", cancellationToken);
            await CloseAsync(CloseCodes.TryAgainLater, ErrorCodes.Overloaded.Code);
            return false;
        }
        ClientId = clientId;
        var head = _engine.Head;
        var horizon = _engine.Horizon;
        if (cursor > head && _engine.IsClustered)
        {
            // A client failing over from a node that was a little ahead: its cursor is in the shared
            // log even if this node has not published that far yet.
            await using var reader = await _engine.Store.BeginReadAsync(cancellationToken);
            head = Math.Max(head, reader.Head);
        }
        bool? resumable = cursor is { } c ? c >= horizon && c <= head : null;
        _position = resumable == true ? cursor!.Value : head;
        Log.SessionOpened(_logger, Id, clientId);
        await ReplyAsync(new WelcomeFrame(Frames.Id(id), Id, head, horizon, _position)
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
                _inbox.Writer.TryWrite(new ResumeCommand(id, subs));
            }
            else
            {
                foreach (var sub in subs)
                {
                    _inbox.Writer.TryWrite(new SubscribeCommand(id, sub, Reset: true));
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
                await HandleFrameAsync(frame.Value, cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_receiveBuffer);
            _receiveBuffer = [];
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

    /// <summary>
    /// The frame as the JSON object of docs/protocol.md: a MessagePack frame is spelt as one (§11), so that every
    /// request passes the one validating JSON door and is refused with the code the same JSON frame gets.
    /// </summary>
    private bool TryCanonical(ReadOnlyMemory<byte> frame, out ReadOnlyMemory<byte> json, [NotNullWhen(false)] out Rejection? refusal)
    {
        refusal = null;
        if (!_codec.IsBinary)
        {
            json = frame;
            return true;
        }
        // Kept small between frames: one large frame must not hold its JSON spelling for the connection's life.
        if (_canonical is null || _canonical.Capacity > 64 * 1024)
        {
            _canonical = new ArrayBufferWriter<byte>(4096);
        }
        try
        {
            json = _codec.ToJson(frame, _canonical);
            return true;
        }
        catch (FrameFormatException e)
        {
            json = default;
            refusal = new Rejection(e.Code, e.Message);
            return false;
        }
    }

    private ArrayBufferWriter<byte>? _canonical;

    private async Task HandleFrameAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (!TryCanonical(frame, out var json, out var malformed))
        {
            Log.BadFrame(_logger, Id, malformed.Error.Code, malformed.Message);
            await ReplyErrorAsync(default, malformed, cancellationToken);
            return;
        }
        using var doc = FrameParser.TryParse(json, out var defect, out var defectId);
        if (doc is null)
        {
            Log.BadFrame(_logger, Id, defect!.Error.Code, defect.Message);
            await ReplyErrorAsync(defectId, defect, cancellationToken);
            return;
        }
        var root = doc.RootElement;
        var id = RequestReader.RequestId(root);
        var type = RequestReader.Type(root);
        switch (type)
        {
            case null:
                await ReplyErrorAsync(id, ErrorCodes.BadFrame, "A frame needs a string field 't'.", cancellationToken);
                return;
            case MessageTypes.Ping or MessageTypes.Subscribe or MessageTypes.Unsubscribe or MessageTypes.Mutate or MessageTypes.Call or MessageTypes.Hello
                when id.ValueKind == JsonValueKind.Undefined:
                await ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "Every request needs an 'id' (a number or a string) that its reply echoes.", cancellationToken);
                return;
            case MessageTypes.Ping:
                await ReplyAsync(new PongFrame(Frames.Id(id), _engine.Head), cancellationToken);
                return;
            case MessageTypes.Subscribe:
                if (!FrameParser.TryParseSubscription(root, _options.FilterLimits, out var sub, out var rejection))
                {
                    await ReplyErrorAsync(id, rejection!, cancellationToken);
                    return;
                }
                var grant = _engine.Access.Read(_caller!, sub!.Collection);
                if (grant.None)
                {
                    await ReplyErrorAsync(id, ErrorCodes.Forbidden, $"You may not read '{sub.Collection}'.", cancellationToken);
                    return;
                }
                sub = sub with { Access = grant };
                // A snapshot is bulk sync: it waits while the client's interactive reserve is in use.
                if (!_engine.RateLimiter.TryAcquire(RateKey, AddressBucket, bulk: true))
                {
                    await ReplyRateLimitedAsync(id, cancellationToken);
                    return;
                }
                // Held and queued filters together within the budget, checked here as well as by the pump: a
                // client whose stream is stuck must not queue filters past it either.
                var pending = Interlocked.Add(ref _pendingFilterBytes, sub.Filter.Bytes);
                if (Volatile.Read(ref _heldFilterBytes) + pending > _options.MaxFilterBytesPerConnection)
                {
                    Interlocked.Add(ref _pendingFilterBytes, -sub.Filter.Bytes);
                    await ReplyErrorAsync(id, ErrorCodes.TooManySubscriptions,
                        $"A connection's filters may hold {_options.MaxFilterBytesPerConnection} bytes together, held and pending; unsubscribe one first.", cancellationToken);
                    return;
                }
                await _commandSlots.WaitAsync(cancellationToken);
                _inbox.Writer.TryWrite(new SubscribeCommand(id, sub, Reset: false) { FromClient = true });
                return;
            case MessageTypes.Unsubscribe:
                if (!RequestReader.TryReadUnsubscribe(root, out var unsub, out var refused))
                {
                    await ReplyErrorAsync(id, FrameParser.ToRejection(refused!), cancellationToken);
                    return;
                }
                await _commandSlots.WaitAsync(cancellationToken);
                _inbox.Writer.TryWrite(new UnsubscribeCommand(id, unsub!.Sub) { FromClient = true });
                return;
            case MessageTypes.Mutate:
            case MessageTypes.Call:
                if (!_engine.RateLimiter.TryAcquire(RateKey, AddressBucket, bulk: false))
                {
                    await ReplyRateLimitedAsync(id, cancellationToken);
                    return;
                }
                await HandleWriteAsync(root, id, type, cancellationToken);
                return;
            case MessageTypes.Hello:
                await ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "This connection has already said hello.", cancellationToken);
                return;
            default:
                await ReplyErrorAsync(id, ErrorCodes.UnknownType, $"Unknown frame type '{type}'.", cancellationToken);
                return;
        }
    }

    /// <summary>The rate-limit bucket of this connection: its client id's, else its own.</summary>
    private string RateKey => ClientId is { } client ? "client:" + client : "session:" + Id;

    /// <summary>The address bucket this connection also draws from (anonymous callers of a server with credentials).</summary>
    private string? AddressBucket => ClientRateLimiter.AddressBucket(_caller!, _options.Auth, _remoteAddress);

    private ValueTask ReplyRateLimitedAsync(JsonElement id, CancellationToken cancellationToken) =>
        ReplyErrorAsync(id, ErrorCodes.RateLimited,
            $"Over {_options.RateLimitPerSecond} requests per second for this client; retry shortly (bulk sync waits while interactive requests use the reserve).", cancellationToken);

    private async Task HandleWriteAsync(JsonElement root, JsonElement id, string type, CancellationToken cancellationToken)
    {
        if (!RequestReader.TryReadMid(root, out var mid, out var error))
        {
            await ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
            return;
        }
        if (mid is not null && ClientId is null)
        {
            // Refused, not ignored: a number the server cannot record would make a replay apply twice.
            await ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "'mid' needs the hello's 'clientId': mutations are numbered per client.", cancellationToken);
            return;
        }
        WriteRequest request;
        if (type == MessageTypes.Mutate)
        {
            if (!RequestReader.TryReadMutate(root, mid, _options.MaxOpsPerMutation, out var mutate, out error))
            {
                await ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
                return;
            }
            request = new WriteRequest(RequestParser.ToDocumentOps(mutate!.Ops), ClientId, mid) { Caller = _caller };
        }
        else
        {
            if (!RequestReader.TryReadCall(root, mid, out var call, out error))
            {
                await ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
                return;
            }
            var args = call!.Args is { } a ? JsonSerializer.Deserialize<JsonElement>(a.Json) : default;
            request = new WriteRequest(call.Name, args, ClientId, mid) { Caller = _caller };
        }

        // Backpressure: a connection with too many writes in flight stops being read.
        await _inFlight.WaitAsync(cancellationToken);
        if (!_engine.Sequencer.TryEnqueue(request))
        {
            _inFlight.Release();
            await ReplyErrorAsync(id, ErrorCodes.Overloaded, "The write queue is full; retry with backoff.", cancellationToken);
            return;
        }
        _ = ReplyWhenCommittedAsync(request, id, cancellationToken);
    }

    private async Task ReplyWhenCommittedAsync(WriteRequest request, JsonElement id, CancellationToken cancellationToken)
    {
        try
        {
            var result = await request.Completion;
            await ReplyAsync(Frames.Reply(Frames.Id(id), result), cancellationToken);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // the connection is gone; the client learns the outcome by replaying its mid
        }
        finally
        {
            ReleaseInFlight();
        }
    }

    private void ReleaseInFlight()
    {
        try
        {
            _inFlight.Release();
        }
        catch (ObjectDisposedException)
        {
            // the session ended while this write was in flight
        }
    }
}
