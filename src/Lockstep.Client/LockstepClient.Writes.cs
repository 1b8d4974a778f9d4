using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    private const int MaxTransientRetries = 10;

    /// <summary>Queues a write; <paramref name="frame"/> makes its <c>mut</c> or <c>call</c> from the mutation number.</summary>
    internal Task<WriteAck> EnqueueAsync(Func<long, Frame> frame, IReadOnlyList<DocumentOp> ops, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PendingWrite pending;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var mid = NextMid();
            pending = new PendingWrite(mid, frame(mid), ops);
            // Saved before the call returns: a process that dies now still replays it. Kept as JSON whatever the wire's encoding.
            _store?.AddPending(pending.Mid, PendingWrite.ToStoredText(pending.Frame));
            _pending.Add(pending);
            _pendingByMid[pending.Mid] = pending;
            foreach (var (collection, id) in ops.Select(o => (o.Collection, o.Id)).Distinct())
            {
                Touch(CollectionStateOf(collection), id, null);
            }
            if (_connection is { } connection)
            {
                Send(connection, pending);
            }
        }
        // The write stays queued if the caller stops waiting: cancelling only stops the wait.
        return pending.Completion.WaitAsync(cancellationToken);
    }

    /// <summary>The local view of one document: the confirmed state with every unconfirmed op on top, in order.</summary>
    private (JsonObject? Doc, long Version) ComputeLocal(CollectionState collection, string id)
    {
        collection.Confirmed.TryGetValue(id, out var cached);
        var version = cached?.Version ?? 0;
        var doc = cached?.Body?.DeepClone() as JsonObject;
        var applied = false;
        foreach (var pending in _pending)
        {
            for (var i = 0; i < pending.Ops.Count; i++)
            {
                var op = pending.Ops[i];
                if (op.Id == id && op.Collection == collection.Name && !pending.IsReflected(i, version))
                {
                    doc = LocalApply.Apply(doc, op);
                    applied = true;
                }
            }
        }
        // Values made locally are re-read as JSON, so the view converts (an int from a long, say) exactly as server data does.
        return (applied && doc is not null ? (JsonObject)JsonNode.Parse(doc.ToJsonString())! : doc, version);
    }

    /// <summary>Recomputes a document's local view and tells the collection's observers. Under the lock.</summary>
    private void Touch(CollectionState collection, string id, RemoteUpdate? remote)
    {
        var (doc, version) = ComputeLocal(collection, id);
        bool changed;
        if (doc is null)
        {
            changed = collection.View.Remove(id);
        }
        else
        {
            changed = !collection.View.TryGetValue(id, out var last) || last.Version != version || !JsonNode.DeepEquals(last.Doc, doc);
            if (changed)
            {
                collection.View[id] = (version, doc);
            }
        }
        if (!changed && remote is null)
        {
            return;
        }
        foreach (var observer in collection.Observers)
        {
            observer.OnDocument(id, doc, version, changed, remote, _events);
        }
    }

    private void TouchOps(PendingWrite pending)
    {
        foreach (var (collection, id) in pending.Ops.Select(o => (o.Collection, o.Id)).Distinct())
        {
            Touch(CollectionStateOf(collection), id, null);
        }
    }

    private void OnAck(long mid, AckFrame frame)
    {
        if (!_pendingByMid.TryGetValue(mid, out var pending) || pending.Ack is not null)
        {
            return;
        }
        pending.SentAt = null;
        WriteAck ack;
        try
        {
            ack = WriteAck.FromFrame(frame);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException("Malformed ack frame.", e);
        }
        RemoveFromStore(pending);
        pending.Succeed(ack);
        var watched = pending.Ops.Any(o => CollectionStateOf(o.Collection).Subscriptions > 0);
        if (!watched || _cursor >= ack.Seq)
        {
            Settle(pending);
        }
        else
        {
            TouchOps(pending);
        }
    }

    private void OnWriteError(long mid, ErrorFrame frame)
    {
        if (!_pendingByMid.TryGetValue(mid, out var pending) || pending.Ack is not null)
        {
            return;
        }
        pending.SentAt = null;
        var error = LockstepException.FromFrame(frame);
        // A transient refusal (overloaded, storage unavailable) was not recorded: the same mid may be sent again.
        if (error.IsTransient && !frame.Dup && pending.TransientFailures < MaxTransientRetries)
        {
            pending.TransientFailures++;
            var delay = BackoffDelay(pending.TransientFailures);
            Log.TransientRefusal(_logger, mid, error.Code, delay);
            var connection = _connection;
            _ = RetryLaterAsync(pending, connection, delay);
            return;
        }
        Log.WriteRefused(_logger, mid, error.Code);
        RemoveFromStore(pending);
        _pending.Remove(pending);
        _pendingByMid.Remove(mid);
        // Local state returns to server truth before the caller hears of the refusal.
        TouchOps(pending);
        pending.Fail(error);
    }

    private async Task RetryLaterAsync(PendingWrite pending, Connection? connection, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _disposing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return;
        }
        lock (_gate)
        {
            // On a new connection the write was replayed already.
            if (_connection == connection && _pendingByMid.ContainsKey(pending.Mid) && pending.Ack is null && pending.SentAt is null)
            {
                if (connection is not null)
                {
                    Send(connection, pending);
                }
            }
        }
    }

    /// <summary>Sends a write on a connection; one too large for the server is refused here, as the server would. Under the lock.</summary>
    private void Send(Connection connection, PendingWrite pending)
    {
        if (connection.SendWrite(pending))
        {
            return;
        }
        Log.WriteRefused(_logger, pending.Mid, ErrorCodes.FrameTooLarge.Code);
        RemoveFromStore(pending);
        _pending.Remove(pending);
        _pendingByMid.Remove(pending.Mid);
        TouchOps(pending);
        pending.Fail(new LockstepException(ErrorCodes.FrameTooLarge.Code,
            $"The write is larger than the server's limit of {connection.MaxFrameBytes} bytes per frame; split it."));
    }

    private void RemoveFromStore(PendingWrite pending)
    {
        try
        {
            _store?.RemovePending(pending.Mid);
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            // Harmless: a replay of it is answered with its original result.
            Log.StoreFailed(_logger, e);
        }
    }

    /// <summary>Drops an acknowledged write whose changes the confirmed state now holds.</summary>
    private void Settle(PendingWrite pending)
    {
        _pending.Remove(pending);
        _pendingByMid.Remove(pending.Mid);
        TouchOps(pending);
    }

    /// <summary>Moves the stream position forward and settles the acknowledged writes it passes.</summary>
    private void AdvanceCursor(long seq, bool reset = false)
    {
        if (seq <= _cursor && !reset)
        {
            return;
        }
        _cursor = seq;
        _cursorDirty = true;
        for (var i = 0; i < _pending.Count;)
        {
            var pending = _pending[i];
            if (pending.Ack is { } ack && ack.Seq <= _cursor)
            {
                Settle(pending);
            }
            else
            {
                i++;
            }
        }
    }

    private TimeSpan BackoffDelay(int attempt)
    {
        // Full jitter: uniform in [0, min(max, base × 2^attempt)].
        var ceiling = Math.Min(_options.ReconnectMaxDelay.TotalMilliseconds, _options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }
}
