using System.Net.WebSockets;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>
/// The requests of a session after its hello, one frame at a time from the receive loop: read through the one
/// door (a MessagePack frame through its JSON spelling), answered at once (ping, refusals), handed to the pump
/// (sub, unsub: within the <see cref="RequestBudget"/>) or to the sequencer (mut, call: at most
/// <see cref="LockstepOptions.MaxInFlightPerConnection"/> in flight, each acknowledged when it commits).
/// </summary>
internal sealed class RequestDispatcher : IDisposable
{
    private readonly ISessionPeer _session;
    private readonly LockstepOptions _options;
    private readonly FanOut _fanOut;
    private readonly AccessPolicy _access;
    private readonly ClientRateLimiter _rateLimiter;
    private readonly Sequencer _sequencer;
    private readonly ILogger _logger;
    private readonly FrameReader _reader;
    private readonly RequestBudget _budget;
    private readonly System.Net.IPAddress? _remoteAddress;
    private readonly SemaphoreSlim _inFlight;

    public RequestDispatcher(ISessionPeer session, SessionServices services, FrameReader reader, RequestBudget budget, System.Net.IPAddress? remoteAddress)
    {
        _session = session;
        _options = services.Options;
        _fanOut = services.FanOut;
        _access = services.Access;
        _rateLimiter = services.RateLimiter;
        _sequencer = services.Sequencer;
        _logger = services.Logger;
        _reader = reader;
        _budget = budget;
        _remoteAddress = remoteAddress;
        _inFlight = new SemaphoreSlim(_options.MaxInFlightPerConnection, _options.MaxInFlightPerConnection);
    }

    /// <summary>Answers one request frame, or hands it on: to the pump (sub, unsub) or the sequencer (mut, call).</summary>
    public async Task DispatchAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (!_reader.TryCanonical(frame, out var json, out var malformed))
        {
            Log.BadFrame(_logger, _session.Id, malformed.Error.Code, malformed.Message);
            await _session.ReplyErrorAsync(default, malformed, cancellationToken);
            return;
        }
        using var doc = FrameParser.TryParse(json, out var defect, out var defectId);
        if (doc is null)
        {
            Log.BadFrame(_logger, _session.Id, defect!.Error.Code, defect.Message);
            await _session.ReplyErrorAsync(defectId, defect, cancellationToken);
            return;
        }
        var root = doc.RootElement;
        var id = RequestReader.RequestId(root);
        var type = RequestReader.Type(root);
        switch (type)
        {
            case null:
                await _session.ReplyErrorAsync(id, ErrorCodes.BadFrame, "A frame needs a string field 't'.", cancellationToken);
                return;
            case MessageTypes.Ping or MessageTypes.Subscribe or MessageTypes.Unsubscribe or MessageTypes.Mutate or MessageTypes.Call or MessageTypes.Hello
                when id.ValueKind == JsonValueKind.Undefined:
                await _session.ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "Every request needs an 'id' (a number or a string) that its reply echoes.", cancellationToken);
                return;
            case MessageTypes.Ping:
                await _session.ReplyAsync(new PongFrame(Frames.Id(id), _fanOut.Head), cancellationToken);
                return;
            case MessageTypes.Subscribe:
                if (!FrameParser.TryParseSubscription(root, _options.FilterLimits, out var sub, out var rejection))
                {
                    await _session.ReplyErrorAsync(id, rejection!, cancellationToken);
                    return;
                }
                var grant = _access.Read(_session.Caller!, sub!.Collection);
                if (grant.None)
                {
                    await _session.ReplyErrorAsync(id, ErrorCodes.Forbidden, $"You may not read '{sub.Collection}'.", cancellationToken);
                    return;
                }
                sub = sub with { Access = grant };
                // A snapshot is bulk sync: it waits while the client's interactive reserve is in use.
                if (!_rateLimiter.TryAcquire(RateKey, AddressBucket, bulk: true))
                {
                    await ReplyRateLimitedAsync(id, cancellationToken);
                    return;
                }
                // Held and queued filters together within the budget, checked here as well as by the pump: a
                // client whose stream is stuck must not queue filters past it either.
                if (!_budget.TryReserveFilter(sub.Filter.Bytes))
                {
                    await _session.ReplyErrorAsync(id, ErrorCodes.TooManySubscriptions,
                        $"A connection's filters may hold {_options.MaxFilterBytesPerConnection} bytes together, held and pending; unsubscribe one first.", cancellationToken);
                    return;
                }
                await _budget.WaitSlotAsync(cancellationToken);
                _session.Enqueue(new SubscribeCommand(id, sub, Reset: false) { FromClient = true });
                return;
            case MessageTypes.Unsubscribe:
                if (!RequestReader.TryReadUnsubscribe(root, out var unsub, out var refused))
                {
                    await _session.ReplyErrorAsync(id, FrameParser.ToRejection(refused!), cancellationToken);
                    return;
                }
                await _budget.WaitSlotAsync(cancellationToken);
                _session.Enqueue(new UnsubscribeCommand(id, unsub!.Sub) { FromClient = true });
                return;
            case MessageTypes.Mutate:
            case MessageTypes.Call:
                if (!_rateLimiter.TryAcquire(RateKey, AddressBucket, bulk: false))
                {
                    await ReplyRateLimitedAsync(id, cancellationToken);
                    return;
                }
                await HandleWriteAsync(root, id, type, cancellationToken);
                return;
            case MessageTypes.Hello:
                await _session.ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "This connection has already said hello.", cancellationToken);
                return;
            default:
                await _session.ReplyErrorAsync(id, ErrorCodes.UnknownType, $"Unknown frame type '{type}'.", cancellationToken);
                return;
        }
    }

    /// <summary>The rate-limit bucket of this connection: its client id's, else its own.</summary>
    private string RateKey => _session.ClientId is { } client ? "client:" + client : "session:" + _session.Id;

    /// <summary>The address bucket this connection also draws from (anonymous callers of a server with credentials).</summary>
    private string? AddressBucket => ClientRateLimiter.AddressBucket(_session.Caller!, _options.Auth, _remoteAddress);

    private ValueTask ReplyRateLimitedAsync(JsonElement id, CancellationToken cancellationToken) =>
        _session.ReplyErrorAsync(id, ErrorCodes.RateLimited,
            $"Over {_options.RateLimitPerSecond} requests per second for this client; retry shortly (bulk sync waits while interactive requests use the reserve).", cancellationToken);

    private async Task HandleWriteAsync(JsonElement root, JsonElement id, string type, CancellationToken cancellationToken)
    {
        if (!RequestReader.TryReadMid(root, out var mid, out var error))
        {
            await _session.ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
            return;
        }
        if (mid is not null && _session.ClientId is null)
        {
            // Refused, not ignored: a number the server cannot record would make a replay apply twice.
            await _session.ReplyErrorAsync(id, ErrorCodes.InvalidRequest, "'mid' needs the hello's 'clientId': mutations are numbered per client.", cancellationToken);
            return;
        }
        WriteRequest request;
        if (type == MessageTypes.Mutate)
        {
            if (!RequestReader.TryReadMutate(root, mid, _options.MaxOpsPerMutation, out var mutate, out error))
            {
                await _session.ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
                return;
            }
            request = new WriteRequest(EngineOps.From(mutate!.Ops), _session.ClientId, mid) { Caller = _session.Caller };
        }
        else
        {
            if (!RequestReader.TryReadCall(root, mid, out var call, out error))
            {
                await _session.ReplyErrorAsync(id, FrameParser.ToRejection(error!), cancellationToken);
                return;
            }
            var args = call!.Args is { } a ? JsonSerializer.Deserialize<JsonElement>(a.Json) : default;
            request = new WriteRequest(call.Name, args, _session.ClientId, mid) { Caller = _session.Caller };
        }

        // Backpressure: a connection with too many writes in flight stops being read.
        await _inFlight.WaitAsync(cancellationToken);
        if (!_sequencer.TryEnqueue(request))
        {
            _inFlight.Release();
            await _session.ReplyErrorAsync(id, ErrorCodes.Overloaded, "The write queue is full; retry with backoff.", cancellationToken);
            return;
        }
        _ = ReplyWhenCommittedAsync(request, id, cancellationToken);
    }

    private async Task ReplyWhenCommittedAsync(WriteRequest request, JsonElement id, CancellationToken cancellationToken)
    {
        try
        {
            var result = await request.Completion;
            await _session.ReplyAsync(Frames.Reply(Frames.Id(id), result), cancellationToken);
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

    public void Dispose() => _inFlight.Dispose();
}
