using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    private readonly HashSet<(string Collection, string Id)> _dirtyDocs = [];
    private readonly HashSet<string> _dirtySubs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _removedSubs = new(StringComparer.Ordinal);
    private bool _cursorDirty;

    /// <summary>
    /// Joins (or starts) the subscription for a collection and filter. Equal filters on one collection
    /// share one server subscription, named after them, so a restarted client finds its cached one again.
    /// </summary>
    internal SubscriptionState Subscribe(string collection, JsonNode? filterNode)
    {
        var filterJson = filterNode?.ToJsonString() ?? "{}";
        if (!Filter.TryParse(filterJson, out var filter, out var error))
        {
            throw new ArgumentException($"Invalid filter: {error}", nameof(filterNode));
        }
        var name = "q-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(collection + "\n" + filterJson)))[..24];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_subs.TryGetValue(name, out var sub))
            {
                sub = new SubscriptionState(name, collection, filter, filter.MatchesAll ? null : filterNode?.DeepClone());
                _subs[name] = sub;
                _removedSubs.Remove(name);
                _dirtySubs.Add(name);
                CollectionStateOf(collection).Subscriptions++;
                _connection?.SendSubscribe(sub);
            }
            sub.Refs++;
            return sub;
        }
    }

    internal void Unsubscribe(SubscriptionState sub)
    {
        lock (_gate)
        {
            if (--sub.Refs > 0 || !_subs.ContainsKey(sub.Name))
            {
                return;
            }
            _connection?.SendUnsubscribe(sub);
            RemoveSubscription(sub);
        }
    }

    private void RemoveSubscription(SubscriptionState sub)
    {
        if (!_subs.Remove(sub.Name))
        {
            return;
        }
        _dirtySubs.Remove(sub.Name);
        _removedSubs.Add(sub.Name);
        var collection = CollectionStateOf(sub.Collection);
        collection.Subscriptions--;
        foreach (var (id, cached) in collection.Confirmed.Where(p => p.Value.Subs.Contains(sub.Name)).ToList())
        {
            LeaveSubscription(collection, id, cached, sub.Name, cached.Version, _cursor);
        }
    }

    private void MarkDirty(string collection, string id)
    {
        if (_store is not null)
        {
            _dirtyDocs.Add((collection, id));
        }
    }

    /// <summary>Writes what changed since the last flush, with the cursor, in one transaction.</summary>
    private void Flush()
    {
        if (_store is null)
        {
            return;
        }
        long cursor;
        List<StoredDoc> upserts = [];
        List<(string, string)> deletes = [];
        List<StoredSub> subs = [];
        List<string> removed;
        lock (_gate)
        {
            if (_dirtyDocs.Count == 0 && _dirtySubs.Count == 0 && _removedSubs.Count == 0 && !_cursorDirty)
            {
                return;
            }
            cursor = _cursor;
            foreach (var (collection, id) in _dirtyDocs)
            {
                if (_collections.TryGetValue(collection, out var state) && state.Confirmed.TryGetValue(id, out var cached) && cached.Subs.Count > 0)
                {
                    upserts.Add(new StoredDoc(collection, id, cached.Version, cached.Body?.ToJsonString(),
                        new JsonArray([.. cached.Subs.Select(s => (JsonNode?)JsonValue.Create(s))]).ToJsonString()));
                }
                else
                {
                    deletes.Add((collection, id));
                }
            }
            foreach (var name in _dirtySubs)
            {
                if (_subs.TryGetValue(name, out var sub))
                {
                    subs.Add(new StoredSub(name, sub.Collection, sub.Filter.Json, sub.Established));
                }
            }
            removed = [.. _removedSubs];
            _dirtyDocs.Clear();
            _dirtySubs.Clear();
            _removedSubs.Clear();
            _cursorDirty = false;
        }
        try
        {
            _store.Flush(cursor, upserts, deletes, subs, removed);
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            Log.StoreFailed(_logger, e);
        }
    }

    private async Task FlushLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
