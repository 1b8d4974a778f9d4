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
