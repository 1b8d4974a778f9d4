using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Lockstep.Client;

/// <summary>
/// The live result of a subscription: the documents of the local view that match its filter, kept
/// current as server changes arrive and as this client writes. Dispose it to unsubscribe.
/// </summary>
/// <typeparam name="T">The document type.</typeparam>
public sealed class LiveQuery<T> : IAsyncDisposable, IViewObserver
{
    private readonly LockstepCollection<T> _collection;
    private readonly LockstepClient _client;
    private readonly SubscriptionState _sub;
    private readonly Dictionary<string, (long Version, JsonObject Doc)> _current = new(StringComparer.Ordinal);
    private readonly List<ChannelWriter<DocumentChange<T>>> _watchers = [];
    private readonly IDisposable _registration;
    private int _disposed;

    internal LiveQuery(LockstepCollection<T> collection, LockstepClient client, SubscriptionState sub)
    {
        _collection = collection;
        _client = client;
        _sub = sub;
        lock (client.Gate)
        {
            foreach (var (id, entry) in client.CollectionStateOf(collection.Name).View)
            {
                if (Matches(entry.Doc))
                {
                    _current[id] = entry;
                }
            }
            _registration = collection.Observe(this);
        }
    }

    /// <summary>The subscription's name on the wire (derived from collection and filter).</summary>
    public string Name => _sub.Name;

    /// <summary>Raised for each document that enters, changes in, or leaves the result; on the event context, in order.</summary>
    public event EventHandler<DocumentChange<T>>? Changed;

    /// <summary>Completes when the initial snapshot has arrived (at once for a subscription restored from the local store).</summary>
    public Task ReadyAsync(CancellationToken cancellationToken = default) => _sub.Ready.Task.WaitAsync(cancellationToken);

    /// <summary>The matching documents now, by id.</summary>
    public IReadOnlyDictionary<string, T> Documents
    {
        get
        {
            lock (_client.Gate)
            {
                return _current.ToDictionary(p => p.Key, p => _collection.Convert(p.Value.Doc)!, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>The matching documents now, ordered by id.</summary>
    public IReadOnlyList<T> Results
    {
        get
        {
            lock (_client.Gate)
            {
                return [.. _current.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => _collection.Convert(p.Value.Doc)!)];
            }
        }
    }

    /// <summary>The number of matching documents.</summary>
    public int Count
    {
        get
        {
            lock (_client.Gate)
            {
                return _current.Count;
            }
        }
    }

    /// <summary>Every change of the result from now on, until the token fires or the query is disposed.</summary>
    public async IAsyncEnumerable<DocumentChange<T>> ChangesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<DocumentChange<T>>(new UnboundedChannelOptions { SingleReader = true });
        lock (_client.Gate)
        {
            if (_disposed != 0)
            {
                yield break;
            }
            _watchers.Add(channel.Writer);
        }
        try
        {
            await foreach (var change in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return change;
            }
        }
        finally
        {
            lock (_client.Gate)
            {
                _watchers.Remove(channel.Writer);
            }
        }
    }

    private bool Matches(JsonObject doc) =>
        _sub.Filter.MatchesAll || _sub.Filter.Matches(System.Text.Json.JsonSerializer.SerializeToElement(doc, LockstepClientJson.Default.JsonObject));

    void IViewObserver.OnDocument(string id, JsonObject? doc, long version, bool changed, RemoteUpdate? remote, EventDispatcher dispatcher)
    {
        if (!changed)
        {
            return;
        }
        var matches = doc is not null && Matches(doc);
        if (matches)
        {
            _current[id] = (version, doc!);
        }
        else if (!_current.Remove(id))
        {
            return;
        }
        var change = new DocumentChange<T>(id, matches ? _collection.Convert(doc) : default, version, remote is not null);
        foreach (var watcher in _watchers)
        {
            watcher.TryWrite(change);
        }
        var handler = Changed;
        if (handler is not null)
        {
            dispatcher.Post(() => handler(this, change));
        }
    }

    /// <summary>Stops following and unsubscribes (when no other query shares the subscription).</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }
        _registration.Dispose();
        lock (_client.Gate)
        {
            foreach (var watcher in _watchers)
            {
                watcher.TryComplete();
            }
            _watchers.Clear();
        }
        _client.Unsubscribe(_sub);
        return ValueTask.CompletedTask;
    }
}
