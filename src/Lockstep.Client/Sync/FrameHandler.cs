using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// Applies the frames the server sends to the client's state: snapshots and changes to the confirmed documents,
/// acks and refusals to the pending writes, positions to the cursor (settling the writes it passes). Called under
/// the client's lock, one frame at a time, so each frame's effects are seen together.
/// </summary>
internal sealed class FrameHandler
{
    private readonly LocalView _view;
    private readonly SubscriptionRegistry _subs;
    private readonly WritePipeline _writes;
    private readonly ILogger _logger;

    public FrameHandler(LocalView view, SubscriptionRegistry subs, WritePipeline writes, ILogger logger)
    {
        _view = view;
        _subs = subs;
        _writes = writes;
        _logger = logger;
    }

    /// <summary>Applies one frame. False asks the connection to be dropped and resynchronized.</summary>
    public bool Handle(Frame frame)
    {
        switch (frame)
        {
            case SnapshotFrame snapshot:
                OnSnapshot(snapshot);
                return true;
            case SubscribedFrame subscribed:
                if (_subs.TryGet(subscribed.Sub, out var resumed))
                {
                    _subs.MarkEstablished(resumed, save: false);
                    resumed.Ready.TrySetResult();
                }
                Advance(subscribed.Seq);
                return true;
            case ChangeFrame change:
                return OnChange(change);
            case RemovedFrame removed:
                OnRemoved(removed);
                return true;
            case PositionFrame position:
                Advance(position.Seq);
                return true;
            case AckFrame ack:
                if (RequestIds.MidOf(ack.Id) is { } mid)
                {
                    _writes.OnAck(mid, ack);
                }
                return true;
            case ErrorFrame error:
                OnError(error);
                return true;
            default:
                // pong, ok, welcome.
                return true;
        }
    }

    private void OnError(ErrorFrame frame)
    {
        if (RequestIds.MidOf(frame.Id) is { } mid)
        {
            _writes.OnError(mid, frame);
            return;
        }
        var id = RequestIds.Text(frame.Id);
        if (id is not null && id.StartsWith(RequestIds.Subscribe, StringComparison.Ordinal) && _subs.TryGet(id[RequestIds.Subscribe.Length..], out var sub))
        {
            _subs.Refused(sub, LockstepException.FromFrame(frame));
            return;
        }
        Log.ServerError(_logger, frame.Code, frame.Message);
    }

    private void OnSnapshot(SnapshotFrame frame)
    {
        if (!_subs.TryGet(frame.Sub, out var sub))
        {
            return;
        }
        var collection = _view.Of(sub.Collection);
        sub.SnapshotIds ??= new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in frame.Docs)
        {
            if (ParseObject(entry.Doc) is not { } body)
            {
                continue;
            }
            var id = entry.Id;
            var version = entry.Version;
            sub.SnapshotIds.Add(id);
            var isNew = !collection.Confirmed.TryGetValue(id, out var cached);
            cached ??= collection.Confirmed[id] = new CachedDoc();
            cached.Subs.Add(sub.Name);
            _view.MarkDirty(collection.Name, id);
            // A reset replaces whatever was held: the server's data is the truth even when older (restored from a backup).
            if (isNew || version > cached.Version || (frame.Reset && version != cached.Version))
            {
                cached.Version = version;
                cached.Body = body;
                _view.Touch(collection, id, new RemoteUpdate(collection.Name, id, version, frame.Seq, RemoteUpdateKind.Entered, (JsonObject)body.DeepClone(), []));
            }
        }
        if (!frame.Last)
        {
            return;
        }
        // What the subscription held and the snapshot no longer has has left it.
        foreach (var (id, cached) in collection.Confirmed.Where(p => p.Value.Subs.Contains(sub.Name) && !sub.SnapshotIds.Contains(p.Key)).ToList())
        {
            _view.Leave(collection, id, cached, sub.Name, cached.Version, frame.Seq);
        }
        sub.SnapshotIds = null;
        _subs.MarkEstablished(sub, save: true);
        Advance(frame.Seq, frame.Reset);
        sub.Ready.TrySetResult();
    }

    private bool OnChange(ChangeFrame frame)
    {
        var seq = frame.Seq;
        if (!_subs.TryGet(frame.Sub, out var sub) || sub.SnapshotIds is not null)
        {
            Advance(seq);
            return true;
        }
        var collection = _view.Of(sub.Collection);
        var id = frame.Id;
        var version = frame.Version;
        // Only this client's own changes carry a mid; its pending write (if still held) is now part of the confirmed state.
        var own = frame.Mid is not null;
        if (frame.Mid is { } mid)
        {
            _writes.Seen(mid, collection.Name, id);
        }
        collection.Confirmed.TryGetValue(id, out var cached);
        RemoteUpdate? update = null;
        switch (frame.Kind)
        {
            case ChangeKind.Deleted:
                if (cached is not null && version > cached.Version)
                {
                    collection.Confirmed.Remove(id);
                    _view.MarkDirty(collection.Name, id);
                    update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Deleted, [], []);
                }
                break;
            case ChangeKind.Entered:
                if (ParseObject(frame.Body) is not { } body)
                {
                    break;
                }
                cached ??= collection.Confirmed[id] = new CachedDoc();
                cached.Subs.Add(sub.Name);
                _view.MarkDirty(collection.Name, id);
                if (version > cached.Version || cached.Body is null)
                {
                    cached.Version = version;
                    cached.Body = body;
                    update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Entered, (JsonObject)body.DeepClone(), []);
                }
                break;
            default:
                if (cached?.Body is null || version > cached.Version + 1)
                {
                    // A delta for a version we do not hold: something was missed. Start over from snapshots.
                    Log.OutOfStep(_logger, sub.Name, cached is null ? $"delta for {collection.Name}/{id} which is not held" : $"{collection.Name}/{id} jumped from version {cached.Version} to {version}");
                    return false;
                }
                cached.Subs.Add(sub.Name);
                if (version == cached.Version + 1)
                {
                    var set = ParseObject(frame.Body) ?? [];
                    var unset = (frame.Unset is { } paths ? JsonNode.Parse(paths.Json) as JsonArray ?? [] : []).Select(n => (string?)n).OfType<string>().ToList();
                    new Delta([.. set.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone()))], unset).ApplyTo(cached.Body);
                    cached.Version = version;
                    _view.MarkDirty(collection.Name, id);
                    update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Changed, set, unset);
                }
                break;
        }
        _view.Touch(collection, id, own ? null : update);
        Advance(seq);
        return true;
    }

    private void OnRemoved(RemovedFrame frame)
    {
        if (_subs.TryGet(frame.Sub, out var sub) && sub.SnapshotIds is null)
        {
            var collection = _view.Of(sub.Collection);
            if (frame.Mid is { } mid)
            {
                _writes.Seen(mid, collection.Name, frame.Id);
            }
            if (collection.Confirmed.TryGetValue(frame.Id, out var cached))
            {
                _view.Leave(collection, frame.Id, cached, sub.Name, frame.Version, frame.Seq);
            }
        }
        Advance(frame.Seq);
    }

    /// <summary>Moves the stream position forward and settles the acknowledged writes it passes.</summary>
    private void Advance(long seq, bool reset = false)
    {
        if (_view.Advance(seq, reset))
        {
            _writes.SettleUpTo(_view.Cursor);
        }
    }

    /// <summary>A JSON value of a frame as an object; null when absent or not an object.</summary>
    private static JsonObject? ParseObject(RawJson? value) => value is { } raw ? JsonNode.Parse(raw.Json) as JsonObject : null;
}
