using System.Text.Json.Nodes;

namespace Lockstep.Client;

/// <summary>A document as the server last told this client: its version, body, and the subscriptions that hold it.</summary>
internal sealed class CachedDoc
{
    public long Version { get; set; }

    public JsonObject? Body { get; set; }

    public HashSet<string> Subs { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// One collection's state inside the client: the confirmed documents, the local view last shown to
/// observers, and the observers. Guarded by the client's lock.
/// </summary>
internal sealed class CollectionState
{
    public CollectionState(string name) => Name = name;

    public string Name { get; }

    public Dictionary<string, CachedDoc> Confirmed { get; } = new(StringComparer.Ordinal);

    /// <summary>The local view (confirmed + pending) as last shown, for documents that exist in it.</summary>
    public Dictionary<string, (long Version, JsonObject Doc)> View { get; } = new(StringComparer.Ordinal);

    public List<IViewObserver> Observers { get; } = [];

    /// <summary>Active subscriptions on this collection.</summary>
    public int Subscriptions { get; set; }
}

/// <summary>Something that follows a collection's local view: a hook, a watcher, a live query.</summary>
internal interface IViewObserver
{
    /// <summary>
    /// Called under the client's lock after a document's state was recomputed. <paramref name="changed"/>
    /// says whether the local view changed; <paramref name="remote"/> is set when a remote change caused it.
    /// Implementations only queue work on <paramref name="dispatcher"/>.
    /// </summary>
    void OnDocument(string id, JsonObject? doc, long version, bool changed, RemoteUpdate? remote, EventDispatcher dispatcher);
}

/// <summary>A subscription as the client tracks it across connections.</summary>
internal sealed class SubscriptionState
{
    public SubscriptionState(string name, string collection, Core.Filter filter, JsonNode? filterNode)
    {
        Name = name;
        Collection = collection;
        Filter = filter;
        FilterNode = filterNode;
    }

    public string Name { get; }

    public string Collection { get; }

    public Core.Filter Filter { get; }

    public JsonNode? FilterNode { get; }

    /// <summary>A complete snapshot was received: the subscription can be resumed from the cursor.</summary>
    public bool Established { get; set; }

    /// <summary>A <c>sub</c> was sent on the current connection.</summary>
    public bool Requested { get; set; }

    /// <summary>Ids seen in the snapshot being received (null when none is).</summary>
    public HashSet<string>? SnapshotIds { get; set; }

    public int Refs { get; set; }

    public TaskCompletionSource Ready { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The subscription as <c>sub</c> and <c>hello.subs</c> name it.</summary>
    public Protocol.SubscriptionSpec ToSpec() => new(Name, Collection, FilterNode is null ? null : new Protocol.RawJson(FilterNode.ToJsonString()));
}
