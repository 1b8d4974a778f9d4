using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// Keeps the local store (when the client has one) in step with the client's state: the documents, subscriptions
/// and cursor changed since the last flush are noted, and written together in one transaction every 100 ms and
/// on disposal. The notes are guarded by the client's lock; without a store they are not kept.
/// </summary>
internal sealed class LocalJournal
{
    private readonly Lock _gate;
    private readonly LocalStore? _store;
    private readonly ILogger _logger;
    private readonly HashSet<(string Collection, string Id)> _dirtyDocs = [];
    private readonly HashSet<string> _dirtySubs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _removedSubs = new(StringComparer.Ordinal);
    private bool _cursorDirty;

    public LocalJournal(Lock gate, LocalStore? store, ILogger logger)
    {
        _gate = gate;
        _store = store;
        _logger = logger;
    }

    /// <summary>The periodic flush, once started.</summary>
    public Task Flushing { get; private set; } = Task.CompletedTask;

    /// <summary>A confirmed document changed. Under the lock.</summary>
    public void DocumentChanged(string collection, string id)
    {
        if (_store is not null)
        {
            _dirtyDocs.Add((collection, id));
        }
    }

    /// <summary>A subscription was added or became established. Under the lock.</summary>
    public void SubscriptionChanged(string name)
    {
        if (_store is not null)
        {
            _removedSubs.Remove(name);
            _dirtySubs.Add(name);
        }
    }

    /// <summary>A subscription was removed. Under the lock.</summary>
    public void SubscriptionRemoved(string name)
    {
        if (_store is not null)
        {
            _dirtySubs.Remove(name);
            _removedSubs.Add(name);
        }
    }

    /// <summary>The cursor moved. Under the lock.</summary>
    public void CursorMoved() => _cursorDirty = _store is not null;

    /// <summary>Starts flushing every 100 ms until the token fires (once; nothing without a store). Under the lock.</summary>
    public void Start(LocalView view, SubscriptionRegistry subscriptions, CancellationToken cancellationToken)
    {
        if (_store is not null && Flushing.IsCompleted)
        {
            Flushing = Task.Run(() => FlushLoopAsync(view, subscriptions, cancellationToken), CancellationToken.None);
        }
    }

    /// <summary>Writes what changed since the last flush, with the cursor, in one transaction. Takes the lock.</summary>
    public void Flush(LocalView view, SubscriptionRegistry subscriptions)
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
            cursor = view.Cursor;
            foreach (var (collection, id) in _dirtyDocs)
            {
                if (view.TryGetConfirmed(collection, id, out var cached) && cached.Subs.Count > 0)
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
                if (subscriptions.TryGet(name, out var sub))
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

    private async Task FlushLoopAsync(LocalView view, SubscriptionRegistry subscriptions, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Flush(view, subscriptions);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
