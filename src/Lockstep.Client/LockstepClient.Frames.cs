using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    /// <summary>Applies one frame from the server. Under the lock. False asks the connection to be dropped and resynchronized.</summary>
    private bool HandleFrame(JsonObject frame)
    {
        switch ((string?)frame["t"])
        {
            case MessageTypes.Snapshot:
                OnSnapshot(frame);
                return true;
            case MessageTypes.Subscribed:
                if (_subs.TryGetValue((string?)frame["sub"] ?? "", out var resumed))
                {
                    resumed.Established = true;
                    resumed.Ready.TrySetResult();
                }
                AdvanceCursor((long?)frame["seq"] ?? 0);
                return true;
            case MessageTypes.Change:
                return OnChange(frame);
            case MessageTypes.Removed:
                OnRemoved(frame);
                return true;
            case MessageTypes.Position:
                AdvanceCursor((long?)frame["seq"] ?? 0);
                return true;
            case MessageTypes.Ack:
                if (MidOf(frame) is { } mid)
                {
                    OnAck(mid, frame);
                }
                return true;
            case MessageTypes.Error:
                OnError(frame);
                return true;
            default:
                // pong, ok, and frame types of later protocol versions.
                return true;
        }
    }

    private static long? MidOf(JsonObject frame) =>
        frame["id"] is JsonValue id && id.TryGetValue(out string? text) && text.StartsWith('m') && long.TryParse(text.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var mid) ? mid : null;

    private void OnError(JsonObject frame)
    {
        if (MidOf(frame) is { } mid)
        {
            OnWriteError(mid, frame);
            return;
        }
        var id = frame["id"] is JsonValue value && value.TryGetValue(out string? text) ? text : null;
        if (id is not null && id.StartsWith("s:", StringComparison.Ordinal) && _subs.TryGetValue(id[2..], out var sub))
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
        Log.ServerError(_logger, (string?)frame["code"] ?? "?", (string?)frame["message"] ?? "");
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

    private void OnSnapshot(JsonObject frame)
    {
        if (!_subs.TryGetValue((string?)frame["sub"] ?? "", out var sub))
        {
            return;
        }
        var collection = CollectionStateOf(sub.Collection);
        var reset = (bool?)frame["reset"] == true;
        sub.SnapshotIds ??= new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in (frame["docs"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var id = (string?)entry["id"];
            var version = (long?)entry["v"] ?? 0;
            if (id is null || entry["doc"] is not JsonObject body)
            {
                continue;
            }
            sub.SnapshotIds.Add(id);
            var isNew = !collection.Confirmed.TryGetValue(id, out var cached);
            cached ??= collection.Confirmed[id] = new CachedDoc();
            cached.Subs.Add(sub.Name);
            // A reset replaces whatever was held: the server's data is the truth even when older (restored from a backup).
            if (isNew || version > cached.Version || (reset && version != cached.Version))
            {
                cached.Version = version;
                cached.Body = (JsonObject)body.DeepClone();
                MarkDirty(collection.Name, id);
                Touch(collection, id, new RemoteUpdate(collection.Name, id, version, (long?)frame["seq"] ?? 0, RemoteUpdateKind.Entered, (JsonObject)body.DeepClone(), []));
            }
            else
            {
                MarkDirty(collection.Name, id);
            }
        }
        if ((bool?)frame["last"] != true)
        {
            return;
        }
        // What the subscription held and the snapshot no longer has has left it.
        foreach (var (id, cached) in collection.Confirmed.Where(p => p.Value.Subs.Contains(sub.Name) && !sub.SnapshotIds.Contains(p.Key)).ToList())
        {
            LeaveSubscription(collection, id, cached, sub.Name, cached.Version, (long?)frame["seq"] ?? 0);
        }
        sub.SnapshotIds = null;
        sub.Established = true;
        _dirtySubs.Add(sub.Name);
        AdvanceCursor((long?)frame["seq"] ?? 0, reset);
        sub.Ready.TrySetResult();
    }

    private bool OnChange(JsonObject frame)
    {
        var seq = (long?)frame["seq"] ?? 0;
        if (!_subs.TryGetValue((string?)frame["sub"] ?? "", out var sub) || sub.SnapshotIds is not null)
        {
            AdvanceCursor(seq);
            return true;
        }
        var collection = CollectionStateOf(sub.Collection);
        var id = (string?)frame["id"] ?? "";
        var version = (long?)frame["v"] ?? 0;
        // Only this client's own changes carry a mid; its pending write (if still held) is now part of the confirmed state.
        var own = frame["mid"] is not null;
        if (own && _pendingByMid.TryGetValue((long)frame["mid"]!, out var pending))
        {
            pending.Seen.Add((collection.Name, id));
        }
        collection.Confirmed.TryGetValue(id, out var cached);
        RemoteUpdate? update = null;
        if ((bool?)frame["del"] == true)
        {
            if (cached is not null && version > cached.Version)
            {
                collection.Confirmed.Remove(id);
                MarkDirty(collection.Name, id);
                update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Deleted, [], []);
            }
        }
        else if (frame["doc"] is JsonObject body)
        {
            cached ??= collection.Confirmed[id] = new CachedDoc();
            cached.Subs.Add(sub.Name);
            MarkDirty(collection.Name, id);
            if (version > cached.Version || cached.Body is null)
            {
                cached.Version = version;
                cached.Body = (JsonObject)body.DeepClone();
                update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Entered, (JsonObject)body.DeepClone(), []);
            }
        }
        else
        {
            if (cached?.Body is null || version > cached.Version + 1)
            {
                // A delta for a version we do not hold: something was missed. Start over from snapshots.
                Log.OutOfStep(_logger, sub.Name, cached is null ? $"delta for {collection.Name}/{id} which is not held" : $"{collection.Name}/{id} jumped from version {cached.Version} to {version}");
                return false;
            }
            cached.Subs.Add(sub.Name);
            if (version == cached.Version + 1)
            {
                var set = frame["set"] as JsonObject ?? [];
                var unset = (frame["unset"] as JsonArray ?? []).Select(n => (string?)n).OfType<string>().ToList();
                new Delta([.. set.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value))], unset).ApplyTo(cached.Body);
                cached.Version = version;
                MarkDirty(collection.Name, id);
                update = new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Changed, (JsonObject)set.DeepClone(), unset);
            }
        }
        Touch(collection, id, own ? null : update);
        AdvanceCursor(seq);
        return true;
    }

    private void OnRemoved(JsonObject frame)
    {
        var seq = (long?)frame["seq"] ?? 0;
        if (_subs.TryGetValue((string?)frame["sub"] ?? "", out var sub) && sub.SnapshotIds is null)
        {
            var collection = CollectionStateOf(sub.Collection);
            var id = (string?)frame["id"] ?? "";
            if ((long?)frame["mid"] is { } mid && _pendingByMid.TryGetValue(mid, out var pending))
            {
                pending.Seen.Add((collection.Name, id));
            }
            if (collection.Confirmed.TryGetValue(id, out var cached))
            {
                LeaveSubscription(collection, id, cached, sub.Name, (long?)frame["v"] ?? cached.Version, seq);
            }
        }
        AdvanceCursor(seq);
    }

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
