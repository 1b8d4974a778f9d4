using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Client;

/// <summary>
/// The documents as this client knows them. Per collection: the confirmed state (what the server said, as of
/// <see cref="Cursor"/>) and the local view — the confirmed state with every unconfirmed write laid on top, in
/// order — whose changes are told to the collection's observers. Guarded by the client's lock.
/// </summary>
internal sealed class LocalView
{
    private readonly Dictionary<string, CollectionState> _collections = new(StringComparer.Ordinal);
    private readonly PendingWrites _pending;
    private readonly LocalJournal _journal;
    private readonly EventDispatcher _events;

    public LocalView(PendingWrites pending, LocalJournal journal, EventDispatcher events)
    {
        _pending = pending;
        _journal = journal;
        _events = events;
    }

    /// <summary>The last log position whose changes the confirmed state holds.</summary>
    public long Cursor { get; private set; }

    /// <summary>The state of a collection, made on first use.</summary>
    public CollectionState Of(string name)
    {
        if (!_collections.TryGetValue(name, out var state))
        {
            _collections[name] = state = new CollectionState(name);
        }
        return state;
    }

    /// <summary>A confirmed document, when held.</summary>
    public bool TryGetConfirmed(string collection, string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CachedDoc? cached)
    {
        cached = null;
        return _collections.TryGetValue(collection, out var state) && state.Confirmed.TryGetValue(id, out cached);
    }

    /// <summary>Moves the cursor to <paramref name="seq"/> when it is ahead (or, on a <paramref name="reset"/>, anywhere); true when it moved.</summary>
    public bool Advance(long seq, bool reset)
    {
        if (seq <= Cursor && !reset)
        {
            return false;
        }
        Cursor = seq;
        _journal.CursorMoved();
        return true;
    }

    /// <summary>A confirmed document changed: the local store is to write it.</summary>
    public void MarkDirty(string collection, string id) => _journal.DocumentChanged(collection, id);

    /// <summary>Recomputes a document's local view and tells the collection's observers.</summary>
    public void Touch(CollectionState collection, string id, RemoteUpdate? remote)
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

    /// <summary>Recomputes the local view of every document a write touches.</summary>
    public void TouchOps(PendingWrite pending)
    {
        foreach (var (collection, id) in pending.Ops.Select(o => (o.Collection, o.Id)).Distinct())
        {
            Touch(Of(collection), id, null);
        }
    }

    /// <summary>Recomputes every document held or written (after the local store was read back).</summary>
    public void TouchAll()
    {
        foreach (var op in _pending.SelectMany(p => p.Ops))
        {
            Of(op.Collection);
        }
        foreach (var collection in _collections.Values)
        {
            var pendingIds = _pending.SelectMany(p => p.Ops).Where(o => o.Collection == collection.Name).Select(o => o.Id);
            foreach (var id in collection.Confirmed.Keys.Concat(pendingIds).Distinct(StringComparer.Ordinal).ToList())
            {
                Touch(collection, id, null);
            }
        }
    }

    /// <summary>A document left one subscription; when no other holds it, it leaves the cache.</summary>
    public void Leave(CollectionState collection, string id, CachedDoc cached, string sub, long version, long seq)
    {
        cached.Subs.Remove(sub);
        MarkDirty(collection.Name, id);
        if (cached.Subs.Count == 0)
        {
            collection.Confirmed.Remove(id);
            Touch(collection, id, new RemoteUpdate(collection.Name, id, version, seq, RemoteUpdateKind.Removed, [], []));
        }
    }

    /// <summary>Reads the cursor and the confirmed documents back from the local store.</summary>
    public void Restore(LocalStore store)
    {
        Cursor = long.Parse(store.GetMeta("cursor") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var doc in store.LoadDocs())
        {
            var cached = new CachedDoc { Version = doc.Version, Body = doc.Body is null ? null : JsonNode.Parse(doc.Body) as JsonObject };
            foreach (var name in (JsonNode.Parse(doc.Subs) as JsonArray ?? []).Select(n => (string?)n).OfType<string>())
            {
                cached.Subs.Add(name);
            }
            Of(doc.Collection).Confirmed[doc.Id] = cached;
        }
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
}
