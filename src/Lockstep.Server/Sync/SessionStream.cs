using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>
/// A session's stream: its subscriptions and everything it is sent about them — snapshots, changes, removals,
/// positions — in seq order. The fan-out offers it committed batches into a bounded inbox; when the inbox
/// overflows it reads the log from its position instead, and when the log no longer holds what it missed it
/// sends its subscriptions afresh. One pump owns it (its inbox runs it, one item at a time); the receive loop and the timer queue commands.
/// </summary>
internal sealed class SessionStream
{
    private readonly ISessionPeer _session;
    private readonly LockstepOptions _options;
    private readonly IChangeStore _store;
    private readonly FanOut _fanOut;
    private readonly EngineMetrics _metrics;
    private readonly ILogger _logger;
    private readonly RequestBudget _budget;
    private readonly StreamInbox _inbox;

    public SessionStream(ISessionPeer session, SessionServices services, RequestBudget budget)
    {
        _session = session;
        _options = services.Options;
        _store = services.Store;
        _fanOut = services.FanOut;
        _metrics = services.Metrics;
        _logger = services.Logger;
        _budget = budget;
        _inbox = new StreamInbox(_options, _metrics);
        // Until a page shows how large this connection's changes are, guess them at 16 KiB each.
        _catchUpPageSize = (int)Math.Clamp(_options.SendBufferBytes / (16 * 1024), 1, _options.CatchUpPageSize);
    }

    /// <summary>The stream position (set by the hello before the pump starts; then the pump's).</summary>
    public long Position
    {
        get => _position;
        set => _position = value;
    }

    /// <summary>Queues a command (or a batch) for the pump.</summary>
    public void Enqueue(object command) => _inbox.Enqueue(command);

    /// <summary>No more commands: the pump ends once it has done the queued ones.</summary>
    public void Complete() => _inbox.Complete();

    /// <summary>What the fan-out offers batches to.</summary>
    public IChangeListener Listener => _inbox;

    private readonly Dictionary<string, Subscription> _subs = new(StringComparer.Ordinal);

    /// <summary>The stream position: every change up to here that concerns this session has been sent. Pump-owned.</summary>
    private long _position;

    /// <summary>Subscriptions to send again as fresh snapshots once the current delivery is done (<see cref="ResyncAsync"/>).</summary>
    private readonly HashSet<string> _resync = new(StringComparer.Ordinal);

    /// <summary>The largest seq the client has been sent in any frame.</summary>
    private long _sentPosition;

    /// <summary>Changes to read from the log per page: <see cref="LockstepOptions.CatchUpPageSize"/>, fewer when they are large. Pump-owned.</summary>
    private int _catchUpPageSize;

    /// <summary>Starts the pump: the inbox runs it, one item at a time, until <see cref="Complete"/> or the token; the task ends with it.</summary>
    public Task StartPump(CancellationToken cancellationToken)
    {
        _inbox.Start(item => HandleAsync(item, cancellationToken));
        return _inbox.Completion;
    }

    /// <summary>Does one item of the inbox; false when the pump must stop (the session is closing, or failed).</summary>
    private async ValueTask<bool> HandleAsync(object item, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        try
        {
            switch (item)
            {
                case ChangeBatch batch:
                    _inbox.Dequeued(batch);
                    if (!_inbox.Overflowed && batch.Head > _position)
                    {
                        await DeliverAsync(batch.Changes, reader: null, cancellationToken, shared: batch.SharedFrames);
                        _position = batch.Head;
                        await ResyncAsync(cancellationToken);
                    }
                    break;
                case OverflowCommand:
                    Log.FellBehind(_logger, _session.Id, _position);
                    _metrics.CatchUp();
                    await CatchUpAsync(cancellationToken);
                    await ResyncAsync(cancellationToken);
                    break;
                case SubscribeCommand subscribe:
                    await SubscribeAsync(subscribe, cancellationToken);
                    Handled(subscribe.FromClient, subscribe.Subscription.Filter.Bytes);
                    await ResyncAsync(cancellationToken);
                    break;
                case ResumeCommand resume:
                    await ResumeAsync(resume, cancellationToken);
                    await ResyncAsync(cancellationToken);
                    break;
                case UnsubscribeCommand unsubscribe:
                    await UnsubscribeAsync(unsubscribe, cancellationToken);
                    Handled(unsubscribe.FromClient, 0);
                    break;
                case TickCommand tick:
                    await TickAsync(tick, cancellationToken);
                    break;
            }
            return true;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // the session is closing
            return false;
        }
        catch (Exception e)
        {
            Log.SessionFailed(_logger, e, _session.Id);
            await _session.CloseAsync(CloseCodes.InternalError, ErrorCodes.InternalError.Code);
            return false;
        }
    }

    /// <summary>Gives back what a client's request held while it waited for the pump.</summary>
    private void Handled(bool fromClient, int filterBytes)
    {
        if (fromClient)
        {
            _budget.Handled(filterBytes);
        }
    }

    private void UpdateCollections()
    {
        _budget.Hold(_subs.Values.Sum(s => (long)s.Filter.Bytes));
        var collections = new HashSet<string>(_subs.Values.Select(s => s.Collection), StringComparer.Ordinal);
        _inbox.Collections = collections;
        if (collections.Count > 0)
        {
            _fanOut.Add(_inbox);
        }
        else
        {
            _fanOut.Remove(_inbox);
        }
    }

    private async Task SubscribeAsync(SubscribeCommand command, CancellationToken cancellationToken)
    {
        var sub = command.Subscription;
        if (_subs.ContainsKey(sub.Id))
        {
            await _session.ReplyErrorAsync(command.RequestId, ErrorCodes.DuplicateSubscription, $"Subscription '{sub.Id}' already exists on this connection.", cancellationToken);
            return;
        }
        if (_subs.Count >= _options.MaxSubscriptionsPerConnection)
        {
            await _session.ReplyErrorAsync(command.RequestId, ErrorCodes.TooManySubscriptions,
                $"A connection may hold {_options.MaxSubscriptionsPerConnection} subscriptions; unsubscribe one first.", cancellationToken);
            return;
        }
        if (_subs.Values.Sum(s => (long)s.Filter.Bytes) + sub.Filter.Bytes is var filterBytes && filterBytes > _options.MaxFilterBytesPerConnection)
        {
            await _session.ReplyErrorAsync(command.RequestId, ErrorCodes.TooManySubscriptions,
                $"A connection's filters may hold {_options.MaxFilterBytesPerConnection} bytes together, and this one would bring them to {filterBytes}; unsubscribe one first.",
                cancellationToken);
            return;
        }
        // Register interest before reading the snapshot, so that no batch committed after the
        // snapshot can slip past this session; batches the snapshot already covers are skipped.
        var existing = _subs.Values.ToList();
        _subs[sub.Id] = sub;
        UpdateCollections();

        await using var reader = await _store.BeginReadAsync(cancellationToken);
        var snapshotSeq = reader.Head;
        if (snapshotSeq > _position && existing.Count > 0)
        {
            // Bring the other subscriptions to the snapshot's position first: frames stay in seq order.
            // (Even when overflowed: the pending catch-up then starts from the snapshot's position.)
            await DeliverFromLogAsync(reader, existing, snapshotSeq, cancellationToken);
        }
        _position = Math.Max(_position, snapshotSeq);

        var docs = new List<StoredDocument>(_options.SnapshotPageSize);
        var first = true;
        string? after = null;
        while (true)
        {
            var page = await reader.ListDocumentsAsync(sub.Collection, after, _options.SnapshotPageSize, includeDeleted: false, cancellationToken);
            foreach (var doc in page)
            {
                if (sub.MatchesAll || sub.Matches(ChangeClassifier.ParseElement(doc.Json)))
                {
                    docs.Add(doc);
                    if (docs.Count == _options.SnapshotPageSize)
                    {
                        await SendSnapshotAsync(command, snapshotSeq, docs, first, last: false, cancellationToken);
                        first = false;
                        docs.Clear();
                    }
                }
            }
            if (page.Count < _options.SnapshotPageSize)
            {
                break;
            }
            after = page[^1].Id;
        }
        await SendSnapshotAsync(command, snapshotSeq, docs, first, last: true, cancellationToken);
        _sentPosition = Math.Max(_sentPosition, snapshotSeq);
    }

    private async Task SendSnapshotAsync(SubscribeCommand command, long seq, List<StoredDocument> docs, bool first, bool last, CancellationToken cancellationToken)
    {
        var frame = new SnapshotFrame(Frames.Id(command.RequestId), command.Subscription.Id, seq, [.. docs.Select(Frames.Listed)], last)
        {
            Reset = first && command.Reset,
        };
        await _session.SendAsync(frame, cancellationToken);
    }

    private async Task ResumeAsync(ResumeCommand command, CancellationToken cancellationToken)
    {
        foreach (var sub in command.Subscriptions)
        {
            _subs[sub.Id] = sub;
        }
        // Overflowed first, registered second: batches offered from now on are not queued, and
        // the catch-up below reads everything after the cursor from the log.
        _inbox.Overflowed = true;
        UpdateCollections();
        foreach (var sub in command.Subscriptions)
        {
            await _session.SendAsync(new SubscribedFrame(Frames.Id(command.RequestId), sub.Id, _position), cancellationToken);
        }
        _sentPosition = Math.Max(_sentPosition, _position);
        await CatchUpAsync(cancellationToken);
    }

    private async Task UnsubscribeAsync(UnsubscribeCommand command, CancellationToken cancellationToken)
    {
        if (!_subs.Remove(command.SubscriptionId))
        {
            await _session.ReplyErrorAsync(command.RequestId, ErrorCodes.UnknownSubscription, $"No subscription '{command.SubscriptionId}' on this connection.", cancellationToken);
            return;
        }
        UpdateCollections();
        await _session.ReplyAsync(new OkFrame(Frames.Id(command.RequestId)), cancellationToken);
    }

    private async Task TickAsync(TickCommand tick, CancellationToken cancellationToken)
    {
        if (_subs.Count == 0)
        {
            return;
        }
        if (!_inbox.Overflowed && tick.Head > _position)
        {
            // Every batch up to tick.Head was offered before the tick was queued, and the inbox is
            // FIFO: whatever concerned this session is already delivered.
            _position = tick.Head;
        }
        // The position also moves without a frame (a delivered batch's other changes, a catch-up page,
        // a resume): tell the client even when the head did not move since, or its cursor stays behind.
        if (_position > _sentPosition)
        {
            await _session.SendAsync(new PositionFrame(_position), cancellationToken);
            _sentPosition = _position;
        }
    }

    /// <summary>Reads the log from the position until caught up, then returns to live batches.</summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        do
        {
            _inbox.Overflowed = false;
            while (true)
            {
                // A short read transaction per page, closed before the page is sent: a client that stops
                // reading would otherwise hold it open, pinning an old snapshot (SQLite's WAL could not be
                // reset, PostgreSQL could not vacuum).
                IReadOnlyList<Change> page;
                long head;
                var pageSize = _catchUpPageSize;
                await using (var reader = await _store.BeginReadAsync(cancellationToken))
                {
                    if (reader.Horizon > _position)
                    {
                        page = [];
                        head = -1;
                    }
                    else
                    {
                        var collections = _inbox.Collections;
                        page = await WithBeforeImagesAsync(await reader.ReadChangesAsync(_position, [.. collections], pageSize, cancellationToken), reader, cancellationToken);
                        head = reader.Head;
                    }
                }
                if (head < 0)
                {
                    // The log this session needs is gone (it fell behind past retention): start over.
                    await ResetAllAsync(cancellationToken);
                    break;
                }
                SizeNextPage(page);
                await DeliverAsync(page, reader: null, cancellationToken);
                if (page.Count < pageSize)
                {
                    _position = Math.Max(_position, head);
                    break;
                }
                _position = page[^1].Seq;
            }
        }
        while (_inbox.Overflowed);
    }

    /// <summary>
    /// The changes with the before images that filtered subscriptions need (changes read from the log
    /// carry none), read while the page's transaction is open; a before image gone from the log stays unknown.
    /// </summary>
    private async ValueTask<IReadOnlyList<Change>> WithBeforeImagesAsync(IReadOnlyList<Change> page, IStoreReader reader, CancellationToken cancellationToken)
    {
        List<Change>? completed = null;
        for (var i = 0; i < page.Count; i++)
        {
            var change = page[i];
            if (change.Seq > _position && !change.Created && !change.PreviousKnown && change.PreviousSeq > 0 && NeedsBeforeImage(change.Collection))
            {
                var (found, json) = await reader.GetBodyAsync(change.PreviousSeq, cancellationToken);
                if (found)
                {
                    completed ??= [.. page];
                    completed[i] = change.WithPrevious(json, known: true);
                }
            }
        }
        return completed ?? page;
    }

    private bool NeedsBeforeImage(string collection)
    {
        foreach (var sub in _subs.Values)
        {
            if (!sub.MatchesAll && string.Equals(sub.Collection, collection, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Sizes the next page read from the log so that it holds about <see cref="LockstepOptions.SendBufferBytes"/>:
    /// a page is held whole while it is sent, and a reader that stops reading holds it for as long.
    /// </summary>
    private void SizeNextPage(IReadOnlyList<Change> page)
    {
        if (page.Count == 0)
        {
            return;
        }
        long bytes = 0;
        foreach (var change in page)
        {
            bytes += ChangeBatch.SizeOf(change);
        }
        var fits = (long)page.Count * _options.SendBufferBytes / Math.Max(1, bytes);
        _catchUpPageSize = (int)Math.Clamp(fits, 1, _options.CatchUpPageSize);
    }

    /// <summary>Re-sends every subscription as a fresh snapshot marked reset.</summary>
    private async Task ResetAllAsync(CancellationToken cancellationToken)
    {
        var subs = _subs.Values.ToList();
        _subs.Clear();
        UpdateCollections();
        foreach (var sub in subs)
        {
            await SubscribeAsync(new SubscribeCommand(default, sub, Reset: true), cancellationToken);
        }
    }

    /// <summary>Sends the subscriptions marked for it as fresh snapshots marked reset.</summary>
    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        while (_resync.Count > 0)
        {
            var id = _resync.First();
            _resync.Remove(id);
            if (_subs.Remove(id, out var sub))
            {
                UpdateCollections();
                await SubscribeAsync(new SubscribeCommand(default, sub, Reset: true), cancellationToken);
            }
        }
    }

    /// <summary>Delivers the changes after the position up to <paramref name="upTo"/> from an open read to the given subscriptions.</summary>
    private async Task DeliverFromLogAsync(IStoreReader reader, List<Subscription> subs, long upTo, CancellationToken cancellationToken)
    {
        var collections = subs.Select(s => s.Collection).Distinct(StringComparer.Ordinal).ToList();
        while (_position < upTo)
        {
            var pageSize = _catchUpPageSize;
            var page = await reader.ReadChangesAsync(_position, collections, pageSize, cancellationToken);
            SizeNextPage(page);
            await DeliverAsync(page, reader, cancellationToken, subs);
            if (page.Count < pageSize)
            {
                break;
            }
            _position = page[^1].Seq;
        }
    }

    /// <summary>Sends the frames that the changes after the position mean for each subscription.</summary>
    /// <remarks>A live batch's frames (<paramref name="shared"/>) are encoded once for every connection; pages read from the log are this connection's alone.</remarks>
    private async Task DeliverAsync(IReadOnlyList<Change> changes, IStoreReader? reader, CancellationToken cancellationToken, List<Subscription>? only = null,
        SharedChangeFrames? shared = null)
    {
        // Live changes without a before image, for a narrowed subscription, need the log: one read, opened
        // on first need, serves the whole delivery.
        IStoreReader? opened = null;
        async ValueTask<IStoreReader> ReaderAsync() => reader ?? (opened ??= await _store.BeginReadAsync(cancellationToken));
        try
        {
            foreach (var change in changes)
            {
                if (change.Seq <= _position)
                {
                    continue;
                }
                foreach (var sub in only ?? (IEnumerable<Subscription>)_subs.Values)
                {
                    if (!string.Equals(sub.Collection, change.Collection, StringComparison.Ordinal))
                    {
                        continue;
                    }
                    var kind = await ChangeClassifier.ClassifyAsync(sub, change, reader, ReaderAsync, cancellationToken);
                    if (kind == ChangeFrameKind.Resync)
                    {
                        _resync.Add(sub.Id);
                    }
                    else if (kind != ChangeFrameKind.None)
                    {
                        if (shared is not null && !Frames.CarriesMid(change, _session.ClientId))
                        {
                            await _session.SendSharedAsync(shared.Get(_session.Codec, change, kind), sub.Id, cancellationToken);
                        }
                        else
                        {
                            await _session.SendAsync(Frames.Change(sub.Id, change, kind, _session.ClientId), cancellationToken);
                        }
                        _sentPosition = change.Seq;
                    }
                }
            }
        }
        finally
        {
            if (opened is not null)
            {
                await opened.DisposeAsync();
            }
        }
    }
}
