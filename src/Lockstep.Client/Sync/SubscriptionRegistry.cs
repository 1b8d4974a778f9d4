using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>
/// The client's server subscriptions across connections: equal filters on one collection share one, counted by
/// the queries using it; each is asked for on every new connection until it is established, then resumed from
/// the cursor. Guarded by the client's lock.
/// </summary>
internal sealed class SubscriptionRegistry
{
    private readonly Lock _gate;
    private readonly Dictionary<string, SubscriptionState> _subs = new(StringComparer.Ordinal);
    private readonly LocalView _view;
    private readonly LocalJournal _journal;
    private readonly LockstepClientOptions _options;
    private readonly CancellationToken _disposing;
    private Connection? _connection;

    public SubscriptionRegistry(Lock gate, LocalView view, LocalJournal journal, LockstepClientOptions options, CancellationToken disposing)
    {
        _gate = gate;
        _view = view;
        _journal = journal;
        _options = options;
        _disposing = disposing;
    }

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SubscriptionState? sub) => _subs.TryGetValue(name, out sub);

    /// <summary>
    /// Joins (or starts) the subscription for a collection and a parsed filter. Equal filters on one collection
    /// share one server subscription, named after them, so a restarted client finds its cached one again.
    /// </summary>
    public SubscriptionState Join(string collection, Filter filter, string filterJson, JsonNode? filterNode)
    {
        var name = "q-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(collection + "\n" + filterJson)))[..24];
        if (!_subs.TryGetValue(name, out var sub))
        {
            sub = new SubscriptionState(name, collection, filter, filter.MatchesAll ? null : filterNode?.DeepClone());
            _subs[name] = sub;
            _journal.SubscriptionChanged(name);
            _view.Of(collection).Subscriptions++;
            _connection?.SendSubscribe(sub);
        }
        sub.Refs++;
        return sub;
    }

    /// <summary>A query stopped using the subscription; the last one ends it.</summary>
    public void Leave(SubscriptionState sub)
    {
        if (--sub.Refs > 0 || !_subs.ContainsKey(sub.Name))
        {
            return;
        }
        _connection?.SendUnsubscribe(sub);
        Remove(sub);
    }

    /// <summary>The server holds the subscription (resumed, or its snapshot complete).</summary>
    public void MarkEstablished(SubscriptionState sub, bool save)
    {
        sub.Established = true;
        if (save)
        {
            _journal.SubscriptionChanged(sub.Name);
        }
    }

    /// <summary>
    /// The server refused the subscription: a transient refusal (rate_limited, overloaded) is asked again after a
    /// backoff on the same connection; any other gives it up, and its queries fault.
    /// </summary>
    public void Refused(SubscriptionState sub, LockstepException error)
    {
        if (error.IsTransient)
        {
            sub.Requested = false;
            _ = ResubscribeLaterAsync(sub, _connection, Backoff.Delay(_options, 1));
            return;
        }
        Remove(sub);
        sub.Ready.TrySetException(error);
    }

    /// <summary>
    /// The subscriptions a hello resumes (established ones); with <paramref name="fresh"/> none, every one being
    /// asked for again from its snapshot.
    /// </summary>
    public List<SubscriptionSpec> ToResume(bool fresh)
    {
        if (fresh)
        {
            foreach (var sub in _subs.Values)
            {
                sub.Established = false;
            }
        }
        return [.. _subs.Values.Where(s => s.Established).Select(s => s.ToSpec())];
    }

    /// <summary>A connection came up: asks for every subscription the hello did not resume.</summary>
    public void Attach(Connection connection)
    {
        foreach (var sub in _subs.Values.Where(s => !s.Established))
        {
            connection.SendSubscribe(sub);
        }
        _connection = connection;
    }

    /// <summary>The connection is gone: nothing was asked on the next one yet, and a snapshot cut short is asked for again from the start.</summary>
    public void Detach(Connection connection)
    {
        if (_connection == connection)
        {
            _connection = null;
        }
        foreach (var sub in _subs.Values)
        {
            sub.Requested = false;
            if (sub.SnapshotIds is not null)
            {
                sub.SnapshotIds = null;
                sub.Established = false;
            }
        }
    }

    /// <summary>Reads the subscriptions back from the local store.</summary>
    public void Restore(LocalStore store)
    {
        foreach (var sub in store.LoadSubs())
        {
            if (!Filter.TryParse(sub.Filter, out var filter, out _))
            {
                continue;
            }
            var state = new SubscriptionState(sub.Name, sub.Collection, filter, sub.Filter == "{}" ? null : JsonNode.Parse(sub.Filter))
            {
                Established = sub.Established,
            };
            if (state.Established)
            {
                state.Ready.TrySetResult();
            }
            _subs[sub.Name] = state;
            _view.Of(sub.Collection).Subscriptions++;
        }
    }

    private void Remove(SubscriptionState sub)
    {
        if (!_subs.Remove(sub.Name))
        {
            return;
        }
        _journal.SubscriptionRemoved(sub.Name);
        var collection = _view.Of(sub.Collection);
        collection.Subscriptions--;
        foreach (var (id, cached) in collection.Confirmed.Where(p => p.Value.Subs.Contains(sub.Name)).ToList())
        {
            _view.Leave(collection, id, cached, sub.Name, cached.Version, _view.Cursor);
        }
    }

    private async Task ResubscribeLaterAsync(SubscriptionState sub, Connection? connection, TimeSpan delay)
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
            if (connection is not null && _connection == connection && _subs.TryGetValue(sub.Name, out var current) && current == sub && !sub.Requested)
            {
                connection.SendSubscribe(sub);
            }
        }
    }
}
