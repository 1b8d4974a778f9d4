using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

internal sealed partial class SyncSession
{
    /// <summary>Reads one whole message; null when the connection closed (or was closed for a bad frame).</summary>
    private async Task<ReadOnlyMemory<byte>?> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        switch (await _reader.ReceiveAsync(cancellationToken))
        {
            case FrameReadOutcome.Frame:
                return _reader.Message;
            case FrameReadOutcome.TooLarge:
                Log.BadFrame(_logger, Id, ErrorCodes.FrameTooLarge.Code, $"over {_options.MaxFrameBytes} bytes");
                await ReplyErrorAsync(default, ErrorCodes.FrameTooLarge, $"Frames are limited to {_options.MaxFrameBytes} bytes.", cancellationToken);
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
        if (!_reader.TryCanonical(frame.Value, out var json, out var malformed))
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
        var (accepted, refused) = await new HelloHandshake(_engine, _services).CheckAsync(root, _caller, Slot);
        if (refused is not null)
        {
            if (refused.Rejection.Error == ErrorCodes.Unauthorized)
            {
                Log.SessionRefused(_logger, Id, refused.Rejection.Message);
            }
            await ReplyErrorAsync(id, refused.Rejection, cancellationToken);
            await CloseAsync(refused.CloseCode, refused.Rejection.Error.Code);
            return false;
        }
        _caller = accepted!.Caller;
        var clientId = accepted.ClientId;
        var cursor = accepted.Cursor;
        var subs = accepted.Subs;
        _countedClient = clientId;
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

    private async Task HandleFrameAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (!_reader.TryCanonical(frame, out var json, out var malformed))
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
