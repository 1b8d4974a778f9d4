using System.Globalization;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// The client's writes from the call to their settlement: each gets the next mutation number (reserved in blocks
/// in the local store, so a restart never reuses one), is saved before the call returns, sent on the connection
/// (or replayed on the next), retried after a transient refusal, completed by its ack or refusal, and dropped from
/// the local view once the stream has passed its seq. Guarded by the client's lock.
/// </summary>
internal sealed class WritePipeline
{
    private const long MidBlock = 10_000;
    private const int MaxTransientRetries = 10;
    private readonly Lock _gate;
    private readonly PendingWrites _pending;
    private readonly LocalView _view;
    private readonly LocalStore? _store;
    private readonly LockstepClientOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationToken _disposing;
    private Connection? _connection;
    private long _nextMid;
    private long _midReserved;

    public WritePipeline(Lock gate, PendingWrites pending, LocalView view, LocalStore? store, LockstepClientOptions options, ILogger logger, CancellationToken disposing)
    {
        _gate = gate;
        _pending = pending;
        _view = view;
        _store = store;
        _options = options;
        _logger = logger;
        _disposing = disposing;
        // Numbers must not repeat across runs of a process that keeps its ClientId: start from the clock (Restore may go higher).
        _nextMid = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        _midReserved = store is null ? long.MaxValue : 0;
    }

    /// <summary>How many writes are not yet acknowledged (queued, or in flight).</summary>
    public int UnacknowledgedCount => _pending.Count(p => p.Ack is null);

    /// <summary>The writes not yet acknowledged, in order.</summary>
    public List<PendingWrite> Unacknowledged() => [.. _pending.Where(p => p.Ack is null)];

    /// <summary>Queues a write; <paramref name="frame"/> makes its <c>mut</c> or <c>call</c> from the mutation number.</summary>
    public PendingWrite Enqueue(Func<long, Frame> frame, IReadOnlyList<DocumentOp> ops)
    {
        var mid = NextMid();
        var pending = new PendingWrite(mid, frame(mid), ops);
        // Saved before the call returns: a process that dies now still replays it. Kept as JSON whatever the wire's encoding.
        _store?.AddPending(pending.Mid, PendingWrite.ToStoredText(pending.Frame));
        _pending.Add(pending);
        foreach (var (collection, id) in ops.Select(o => (o.Collection, o.Id)).Distinct())
        {
            _view.Touch(_view.Of(collection), id, null);
        }
        if (_connection is { } connection)
        {
            Send(connection, pending);
        }
        return pending;
    }

    /// <summary>
    /// A connection came up: every unacknowledged write is replayed in its original order with its original
    /// number (the server answers one it already applied with its original result), then new ones go out on it.
    /// </summary>
    public void Attach(Connection connection)
    {
        foreach (var pending in Unacknowledged())
        {
            Send(connection, pending);
        }
        _connection = connection;
    }

    /// <summary>The connection is gone: nothing is in flight any more.</summary>
    public void Detach(Connection connection)
    {
        if (_connection == connection)
        {
            _connection = null;
        }
        foreach (var pending in _pending)
        {
            pending.SentAt = null;
        }
    }

    /// <summary>When the first write in flight was sent (Environment.TickCount64), or null when none is.</summary>
    public long? FirstSentAt() => _pending.FirstOrDefault(p => p.SentAt is not null)?.SentAt;

    /// <summary>This client's own change to a document arrived: the confirmed state holds the write's op on it.</summary>
    public void Seen(long mid, string collection, string id)
    {
        if (_pending.TryGet(mid, out var pending))
        {
            pending.Seen.Add((collection, id));
        }
    }

    public void OnAck(long mid, AckFrame frame)
    {
        if (!_pending.TryGet(mid, out var pending) || pending.Ack is not null)
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
        var watched = pending.Ops.Any(o => _view.Of(o.Collection).Subscriptions > 0);
        if (!watched || _view.Cursor >= ack.Seq)
        {
            Settle(pending);
        }
        else
        {
            _view.TouchOps(pending);
        }
    }

    public void OnError(long mid, ErrorFrame frame)
    {
        if (!_pending.TryGet(mid, out var pending) || pending.Ack is not null)
        {
            return;
        }
        pending.SentAt = null;
        var error = LockstepException.FromFrame(frame);
        // A transient refusal (overloaded, storage unavailable) was not recorded: the same mid may be sent again.
        if (error.IsTransient && !frame.Dup && pending.TransientFailures < MaxTransientRetries)
        {
            pending.TransientFailures++;
            var delay = Backoff.Delay(_options, pending.TransientFailures);
            Log.TransientRefusal(_logger, mid, error.Code, delay);
            _ = RetryLaterAsync(pending, _connection, delay);
            return;
        }
        Log.WriteRefused(_logger, mid, error.Code);
        Drop(pending, error);
    }

    /// <summary>Settles the acknowledged writes whose seq the stream has passed.</summary>
    public void SettleUpTo(long cursor)
    {
        for (var i = 0; i < _pending.Count;)
        {
            var pending = _pending[i];
            if (pending.Ack is { } ack && ack.Seq <= cursor)
            {
                Settle(pending);
            }
            else
            {
                i++;
            }
        }
    }

    /// <summary>Reads the mutation numbers and the unconfirmed writes back from the local store.</summary>
    public void Restore(LocalStore store)
    {
        // Never below the clock: a store that is new (or was wiped) under a client id the server
        // already knows must not number writes from 1 again, or they would be taken for replays.
        var reserved = long.Parse(store.GetMeta("midReserved") ?? "0", CultureInfo.InvariantCulture);
        _nextMid = Math.Max(reserved, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        _midReserved = reserved;
        foreach (var (mid, text) in store.LoadPending())
        {
            if (PendingWrite.FromStoredText(mid, text) is not { } pending)
            {
                continue;
            }
            _pending.Add(pending);
            _nextMid = Math.Max(_nextMid, mid);
        }
    }

    private long NextMid()
    {
        _nextMid++;
        if (_store is not null && _nextMid >= _midReserved)
        {
            // Reserve numbers in blocks, so a restart never reuses one and a write costs no extra store update.
            _midReserved = _nextMid + MidBlock;
            _store.SetMeta("midReserved", _midReserved.ToString(CultureInfo.InvariantCulture));
        }
        return _nextMid;
    }

    private async Task RetryLaterAsync(PendingWrite pending, Connection? connection, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _disposing).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return;
        }
        lock (_gate)
        {
            // On a new connection the write was replayed already.
            if (connection is not null && _connection == connection && _pending.Contains(pending.Mid) && pending.Ack is null && pending.SentAt is null)
            {
                Send(connection, pending);
            }
        }
    }

    /// <summary>Sends a write on a connection; one too large for the server is refused here, as the server would.</summary>
    private void Send(Connection connection, PendingWrite pending)
    {
        if (connection.SendWrite(pending))
        {
            return;
        }
        Log.WriteRefused(_logger, pending.Mid, ErrorCodes.FrameTooLarge.Code);
        Drop(pending, new LockstepException(ErrorCodes.FrameTooLarge.Code,
            $"The write is larger than the server's limit of {connection.MaxFrameBytes} bytes per frame; split it."));
    }

    /// <summary>A refused write: local state returns to server truth before the caller hears of the refusal.</summary>
    private void Drop(PendingWrite pending, LockstepException error)
    {
        RemoveFromStore(pending);
        _pending.Remove(pending);
        _view.TouchOps(pending);
        pending.Fail(error);
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
        _view.TouchOps(pending);
    }
}
