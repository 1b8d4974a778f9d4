using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    /// <summary>Applies one frame from the server. Under the lock. False asks the connection to be dropped and resynchronized.</summary>
    private bool HandleFrame(Frame frame)
    {
        switch (frame)
        {
            case SnapshotFrame snapshot:
                OnSnapshot(snapshot);
                return true;
            case SubscribedFrame subscribed:
                if (_subs.TryGetValue(subscribed.Sub, out var resumed))
                {
                    resumed.Established = true;
                    resumed.Ready.TrySetResult();
                }
                AdvanceCursor(subscribed.Seq);
                return true;
            case ChangeFrame change:
                return OnChange(change);
            case RemovedFrame removed:
                OnRemoved(removed);
                return true;
            case PositionFrame position:
                AdvanceCursor(position.Seq);
                return true;
            case AckFrame ack:
                if (RequestIds.MidOf(ack.Id) is { } mid)
                {
                    OnAck(mid, ack);
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
            OnWriteError(mid, frame);
            return;
        }
        var id = RequestIds.Text(frame.Id);
        if (id is not null && id.StartsWith(RequestIds.Subscribe, StringComparison.Ordinal) && _subs.TryGetValue(id[RequestIds.Subscribe.Length..], out var sub))
        {
            var error = LockstepException.FromFrame(frame);
            if (error.IsTransient)
            {
                // Refused for now (rate_limited, overloaded): asked again after a backoff on the same connection.
                sub.Requested = false;
                _ = ResubscribeLaterAsync(sub, _connection, BackoffDelay(1));
                return;
            }
            // A refused subscription (an invalid filter, later: forbidden) is given up; its queries fault.
            RemoveSubscription(sub);
            sub.Ready.TrySetException(error);
            return;
        }
        Log.ServerError(_logger, frame.Code, frame.Message);
    }

    private async Task ResubscribeLaterAsync(SubscriptionState sub, Connection? connection, TimeSpan delay)
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
            if (connection is not null && _connection == connection && _subs.TryGetValue(sub.Name, out var current) && current == sub && !sub.Requested)
            {
                connection.SendSubscribe(sub);
            }
        }
    }

    private void OnSnapshot(SnapshotFrame frame)
    {
        if (!_subs.TryGetValue(frame.Sub, out var sub))
        {
            return;
        }
        var collection = CollectionStateOf(sub.Collection);
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
            // A reset replaces whatever was held: the server's data is the truth even when older (restored from a backup).
            if (isNew || version > cached.Version || (frame.Reset && version != cached.Version))
            {
                cached.Version = version;
                cached.Body = body;
                MarkDirty(collection.Name, id);
                Touch(collection, id, new RemoteUpdate(collection.Name, id, version, frame.Seq, RemoteUpdateKind.Entered, (JsonObject)body.DeepClone(), []));
            }
            else
            {
                MarkDirty(collection.Name, id);
            }
        }
        if (!frame.Last)
        {
            return;
        }
        // What the subscription held and the snapshot no longer has has left it.
        foreach (var (id, cached) in collection.Confirmed.Where(p => p.Value.Subs.Contains(sub.Name) && !sub.SnapshotIds.Contains(p.Key)).ToList())
        {
            LeaveSubscription(collection, id, cached, sub.Name, cached.Version, frame.Seq);
        }
        sub.SnapshotIds = null;
        sub.Established = true;
        _dirtySubs.Add(sub.Name);
        AdvanceCursor(frame.Seq, frame.Reset);
        sub.Ready.TrySetResult();
    }

    private bool OnChange(ChangeFrame frame)
    {
        var seq = frame.Seq;
        if (!_subs.TryGetValue(frame.Sub, out var sub) || sub.SnapshotIds is not null)
        {
            AdvanceCursor(seq);
            return true;
        }
        var collection = CollectionStateOf(sub.Collection);
        var id = frame.Id;
        var version = frame.Version;
        // Only this client's own changes carry a mid; its pending write (if still held) is now part of the confirmed state.
        var own = frame.Mid is not null;
        if (frame.Mid is { } mid && _pendingByMid.TryGetValue(mid, out var pending))
        {
            pending.Seen.Add((collection.Name, id));
        }
        collection.Confirmed.TryGetValue(id, out var cached);
        RemoteUpdate? update = null;
        switch (frame.Kind)
        {
            case ChangeKind.Deleted:
                if (cached is not null && version > cached.Version)
                {
                    collection.Confirmed.Remove(id);
                    MarkDirty(collection.Name, id);
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
                MarkDirty(collection.Name, id);
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
                    MarkDirty(collection.Name, id);
                    update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Changed, set, unset);
                }
                break;
        }
        Touch(collection, id, own ? null : update);
        AdvanceCursor(seq);
        return true;
    }

    private void OnRemoved(RemovedFrame frame)
    {
        if (_subs.TryGetValue(frame.Sub, out var sub) && sub.SnapshotIds is null)
        {
            var collection = CollectionStateOf(sub.Collection);
            if (frame.Mid is { } mid && _pendingByMid.TryGetValue(mid, out var pending))
            {
                pending.Seen.Add((collection.Name, frame.Id));
            }
            if (collection.Confirmed.TryGetValue(frame.Id, out var cached))
            {
                LeaveSubscription(collection, frame.Id, cached, sub.Name, frame.Version, frame.Seq);
            }
        }
        AdvanceCursor(frame.Seq);
    }

    /// <summary>A JSON value of a frame as an object; null when absent or not an object.</summary>
    private static JsonObject? ParseObject(RawJson? value) => value is { } raw ? JsonNode.Parse(raw.Json) as JsonObject : null;

    /// <summary>A document left one subscription; when no other holds it, it leaves the cache.</summary>
    private void LeaveSubscription(CollectionState collection, string id, CachedDoc cached, string sub, long version, long seq)
    {
        cached.Subs.Remove(sub);
        MarkDirty(collection.Name, id);
        if (cached.Subs.Count == 0)
        {
            collection.Confirmed.Remove(id);
            Touch(collection, id, new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Removed, [], []));
        }
    }
}
