using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Lockstep.Core;

namespace Lockstep.Client;

/// <summary>
/// One collection seen through the client: its local view (server state with this client's
/// unconfirmed writes on top), writes that show at once and are confirmed later, live queries, and
/// remote-update hooks. Get one with <see cref="LockstepClient.Collection{T}(string)"/>.
/// </summary>
/// <typeparam name="T">The document type; <see cref="JsonObject"/> for untyped access.</typeparam>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "A Lockstep collection is the domain's name for it, as on the server.")]
public sealed class LockstepCollection<T>
{
    private readonly LockstepClient _client;

    internal LockstepCollection(LockstepClient client, string name)
    {
        _client = client;
        Name = name;
    }

    /// <summary>The collection name.</summary>
    public string Name { get; }

    /// <summary>A document as the local view shows it, or default when it is not there.</summary>
    public T? Get(string id)
    {
        lock (_client.Gate)
        {
            return _client.CollectionStateOf(Name).View.TryGetValue(id, out var entry) ? Convert(entry.Doc) : default;
        }
    }

    /// <summary>The server version the local view of a document is based on (0 when none).</summary>
    public long GetVersion(string id)
    {
        lock (_client.Gate)
        {
            return _client.CollectionStateOf(Name).View.TryGetValue(id, out var entry) ? entry.Version : 0;
        }
    }

    /// <summary>Every document of the local view: those of this collection's subscriptions, and those this client is writing.</summary>
    public IReadOnlyDictionary<string, T> Documents
    {
        get
        {
            lock (_client.Gate)
            {
                return _client.CollectionStateOf(Name).View.ToDictionary(p => p.Key, p => Convert(p.Value.Doc)!, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Replaces (or creates) a whole document.</summary>
    /// <returns>Completes when the server has made the write durable; faults with a <see cref="LockstepException"/> when it refuses it.</returns>
    public Task<WriteAck> PutAsync(string id, T document, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        _client.MutateAsync([WriteOp.Put(Name, id, ToObject(document), ifVersion)], cancellationToken);

    /// <summary>Sets the top-level fields of <paramref name="changes"/> (an anonymous object, a dictionary, a <see cref="JsonObject"/>); other fields stay.</summary>
    public Task<WriteAck> PatchAsync(string id, object changes, long? ifVersion = null, CancellationToken cancellationToken = default)
    {
        var set = ToObject(changes);
        return _client.MutateAsync([WriteOp.Patch(Name, id, set.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal), null, ifVersion)], cancellationToken);
    }

    /// <summary>Sets dotted field paths and removes others.</summary>
    public Task<WriteAck> PatchAsync(string id, IReadOnlyDictionary<string, JsonNode?> set, IReadOnlyList<string>? unset, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        _client.MutateAsync([WriteOp.Patch(Name, id, set, unset, ifVersion)], cancellationToken);

    /// <summary>Adds to a numeric field (a missing one counts as 0). Increments from different clients commute.</summary>
    public Task<WriteAck> IncrementAsync(string id, string path, decimal by = 1, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        _client.MutateAsync([WriteOp.Increment(Name, id, path, by, ifVersion)], cancellationToken);

    /// <summary>Deletes a document.</summary>
    public Task<WriteAck> DeleteAsync(string id, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        _client.MutateAsync([WriteOp.Delete(Name, id, ifVersion)], cancellationToken);

    /// <summary>
    /// Subscribes to the documents matching <paramref name="filter"/> (docs/protocol.md §4: an object
    /// of top-level field conditions, for example <c>new { status = "open" }</c>; null for all).
    /// </summary>
    public LiveQuery<T> Subscribe(object? filter = null)
    {
        var node = filter switch
        {
            null => null,
            JsonNode n => n.DeepClone(),
            string text => JsonNode.Parse(text),
            _ => JsonSerializer.SerializeToNode(filter, _client.Options.JsonOptions),
        };
        var sub = _client.Subscribe(Name, node);
        return new LiveQuery<T>(this, _client, sub);
    }

    /// <summary>
    /// Calls <paramref name="handler"/> with each change another participant makes to a document of
    /// this collection's subscriptions, and the document's local state after it (the seed's
    /// <c>registerSyncHook(collection, { onRemoteUpdate(delta, localState) })</c>). Handlers run on the
    /// event context, one at a time, in log order. Dispose the result to stop.
    /// </summary>
    public IDisposable OnRemoteUpdate(Action<RemoteUpdate, T?> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Observe(new HookObserver(this, handler));
    }

    /// <summary>Every change of this collection's local view, from now on, until the token fires.</summary>
    public async IAsyncEnumerable<DocumentChange<T>> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<DocumentChange<T>>(new UnboundedChannelOptions { SingleReader = true });
        using var registration = Observe(new ChannelObserver(this, channel.Writer));
        await foreach (var change in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return change;
        }
    }

    internal IDisposable Observe(IViewObserver observer)
    {
        lock (_client.Gate)
        {
            _client.CollectionStateOf(Name).Observers.Add(observer);
        }
        return new Registration(this, observer);
    }

    internal T? Convert(JsonObject? doc)
    {
        if (doc is null)
        {
            return default;
        }
        if (typeof(T) == typeof(JsonObject))
        {
            return (T)(object)doc.DeepClone();
        }
        return doc.Deserialize<T>(_client.Options.JsonOptions);
    }

    private JsonObject ToObject(object? value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value switch
        {
            JsonObject o => (JsonObject)o.DeepClone(),
            _ => JsonSerializer.SerializeToNode(value, value.GetType(), _client.Options.JsonOptions) as JsonObject
                ?? throw new ArgumentException("A document must serialize to a JSON object.", nameof(value)),
        };
    }

    private sealed class Registration(LockstepCollection<T> collection, IViewObserver observer) : IDisposable
    {
        public void Dispose()
        {
            lock (collection._client.Gate)
            {
                collection._client.CollectionStateOf(collection.Name).Observers.Remove(observer);
            }
        }
    }

    private sealed class HookObserver(LockstepCollection<T> collection, Action<RemoteUpdate, T?> handler) : IViewObserver
    {
        public void OnDocument(string id, JsonObject? doc, long version, bool changed, RemoteUpdate? remote, EventDispatcher dispatcher)
        {
            if (remote is null)
            {
                return;
            }
            var local = doc?.DeepClone() as JsonObject;
            dispatcher.Post(() => handler(remote, collection.Convert(local)));
        }
    }

    private sealed class ChannelObserver(LockstepCollection<T> collection, ChannelWriter<DocumentChange<T>> writer) : IViewObserver
    {
        public void OnDocument(string id, JsonObject? doc, long version, bool changed, RemoteUpdate? remote, EventDispatcher dispatcher)
        {
            if (changed)
            {
                // Converted now: the enumeration may be read long after the state moved on.
                writer.TryWrite(new DocumentChange<T>(id, collection.Convert(doc), version, remote is not null));
            }
        }
    }
}
