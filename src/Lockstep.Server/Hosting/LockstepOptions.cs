using System.ComponentModel.DataAnnotations;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>Server options, bound from the configuration section <c>Lockstep</c> and validated on start.</summary>
public sealed class LockstepOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Lockstep";

    /// <summary>The largest WebSocket frame and REST body accepted, in bytes.</summary>
    /// <value>1 MiB (1,048,576).</value>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxFrameBytes { get; set; } = 1 << 20;

    /// <summary>How often clients are told to send a ping when idle; also how often <c>pos</c> frames may be sent.</summary>
    /// <value>15 seconds.</value>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A connection that sends nothing for this long is closed with code 4000.</summary>
    /// <value>45 seconds (three heartbeats).</value>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>How long a new connection may take to send <c>hello</c>.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan HelloTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long one WebSocket message may take to arrive whole once its first bytes came: a client
    /// trickling a large frame (slow loris) is closed with 4002 instead of holding its buffer forever.
    /// </summary>
    /// <value>30 seconds.</value>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many committed changes may wait for one connection before it falls back to reading the
    /// log instead (bounded memory per slow reader).
    /// </summary>
    /// <value>8,192.</value>
    [Range(1, 10_000_000)]
    public int SendBufferChanges { get; set; } = 8192;

    /// <summary>
    /// How many bytes of committed changes (their JSON, as the server holds it) may wait for one
    /// connection before it falls back to reading the log instead; catch-up reads from the log are sized
    /// to it as well. What a reader that stops reading costs the server is about twice this, however
    /// much is written meanwhile.
    /// </summary>
    /// <value>4 MiB (4,194,304).</value>
    [Range(64 * 1024, long.MaxValue)]
    public long SendBufferBytes { get; set; } = 4L << 20;

    /// <summary>Requests one connection may have in flight before the server stops reading it.</summary>
    /// <value>256.</value>
    [Range(1, 100_000)]
    public int MaxInFlightPerConnection { get; set; } = 256;

    /// <summary>The most mutations the sequencer commits in one transaction (group commit).</summary>
    /// <value>1,000.</value>
    [Range(1, 100_000)]
    public int MaxBatchMutations { get; set; } = 1000;

    /// <summary>The most operations one mutation may carry.</summary>
    /// <value>1,000.</value>
    [Range(1, 100_000)]
    public int MaxOpsPerMutation { get; set; } = 1000;

    /// <summary>Mutations waiting for the sequencer beyond which new writes are refused with <c>overloaded</c>.</summary>
    /// <value>100,000.</value>
    [Range(1, 10_000_000)]
    public int MaxQueuedMutations { get; set; } = 100_000;

    /// <summary>How much memory the sequencer may use to remember committed documents, so hot writes need no store read (0 turns it off).</summary>
    /// <value>64 MiB.</value>
    [Range(0, long.MaxValue)]
    public long DocumentCacheBytes { get; set; } = 64L << 20;

    /// <summary>Documents per snapshot frame.</summary>
    /// <value>500.</value>
    [Range(1, 100_000)]
    public int SnapshotPageSize { get; set; } = 500;

    /// <summary>Changes read from the log per page when a connection catches up.</summary>
    /// <value>1,000.</value>
    [Range(1, 100_000)]
    public int CatchUpPageSize { get; set; } = 1000;

    /// <summary>How many of the newest changes the log keeps; older ones are compacted away (documents stay).</summary>
    /// <value>1,000,000.</value>
    [Range(1, long.MaxValue)]
    public long RetainedChanges { get; set; } = 1_000_000;

    /// <summary>How often compaction runs.</summary>
    /// <value>1 minute.</value>
    public TimeSpan CompactionInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest a <c>GET /v1/changes?wait=</c> long-poll may wait.</summary>
    /// <value>60 seconds.</value>
    public TimeSpan MaxLongPollWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The largest a document may become, in UTF-8 bytes of its JSON; a write over it is refused with <c>document_too_large</c>.</summary>
    /// <value>1 MiB (1,048,576).</value>
    [Range(64, 64 * 1024 * 1024)]
    public int MaxDocumentBytes { get; set; } = 1 << 20;

    /// <summary>How many subscriptions one connection may hold; one more is refused with <c>too_many_subscriptions</c>.</summary>
    /// <value>100.</value>
    [Range(1, 100_000)]
    public int MaxSubscriptionsPerConnection { get; set; } = 100;

    /// <summary>
    /// The most terms one filter (a subscription's or a listing's) may have: each comparison counts one,
    /// an <c>$in</c> one per item. A filter over it is refused with <c>filter_too_large</c>.
    /// </summary>
    /// <value>1,000.</value>
    [Range(1, 1_000_000)]
    public int MaxFilterTerms { get; set; } = 1000;

    /// <summary>The most UTF-8 bytes of JSON one filter may have; a filter over it is refused with <c>filter_too_large</c>.</summary>
    /// <value>64 KiB (65,536).</value>
    [Range(2, 64 * 1024 * 1024)]
    public int MaxFilterBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// The most bytes of filter JSON the subscriptions of one connection may hold together (the server
    /// keeps every filter while its subscription lasts); a subscription that would go over it is refused
    /// with <c>too_many_subscriptions</c>.
    /// </summary>
    /// <value>256 KiB (262,144).</value>
    [Range(2, int.MaxValue)]
    public int MaxFilterBytesPerConnection { get; set; } = 256 * 1024;

    /// <summary>The bounds every filter from a caller is parsed with (the one place they are made).</summary>
    internal FilterLimits FilterLimits => new(MaxFilterTerms, MaxFilterBytes);

    /// <summary>How many connections may be open at once with one client id; one more is refused with <c>too_many_connections</c> and closed.</summary>
    /// <value>16.</value>
    [Range(1, 100_000)]
    public int MaxConnectionsPerClient { get; set; } = 16;

    /// <summary>
    /// Requests per second each client may make on average (a token bucket per client id, or per
    /// connection or address without one); 0 turns rate limiting off. Requests over it are refused with
    /// <c>rate_limited</c> (transient).
    /// </summary>
    /// <value>5,000.</value>
    [Range(0, 10_000_000)]
    public int RateLimitPerSecond { get; set; } = 5_000;

    /// <summary>How many requests a client may make at once before the average applies (the bucket's size).</summary>
    /// <value>10,000.</value>
    [Range(1, 100_000_000)]
    public int RateLimitBurst { get; set; } = 10_000;

    /// <summary>
    /// The share of a client's bucket kept for interactive requests (writes, single reads): bulk sync —
    /// new subscriptions' snapshots, listings, the change feed — is refused once fewer tokens than this
    /// share are left, so bulk traffic never starves interactive traffic (the priority lanes).
    /// </summary>
    /// <value>0.5.</value>
    [Range(0.0, 1.0)]
    public double RateLimitInteractiveReserve { get; set; } = 0.5;

    /// <summary>How many sync WebSocket connections one server accepts at once; an upgrade beyond it is refused with 503 <c>overloaded</c>.</summary>
    /// <value>100,000.</value>
    [Range(1, 10_000_000)]
    public int MaxConnections { get; set; } = 100_000;

    /// <summary>
    /// How many sync WebSocket connections may be in their handshake at once — upgraded, their
    /// <c>hello</c> not yet answered with a <c>welcome</c>; an upgrade beyond it is refused with 503
    /// <c>overloaded</c>. Such sockets do not count against <see cref="MaxConnections"/>, so sockets that
    /// never say hello (closed at <see cref="HelloTimeout"/>) cannot take the places of real sessions.
    /// </summary>
    /// <value>1,000.</value>
    [Range(1, 1_000_000)]
    public int MaxPendingConnections { get; set; } = 1000;

    /// <summary>
    /// How many of <see cref="MaxPendingConnections"/> one remote address may hold; an upgrade beyond it
    /// is refused with 503 <c>overloaded</c>. Behind a reverse proxy, have it forward the client's address
    /// (ForwardedHeaders), or every client shares the proxy's.
    /// </summary>
    /// <value>256.</value>
    [Range(1, 1_000_000)]
    public int MaxPendingConnectionsPerAddress { get; set; } = 256;

    /// <summary>
    /// Whether to accept WebSocket per-message compression (permessage-deflate) when a client offers it.
    /// Off by default: compression trades CPU for bandwidth and widens the attack surface. When on,
    /// <see cref="MaxFrameBytes"/> still bounds every message after it is inflated.
    /// </summary>
    /// <value>False.</value>
    public bool EnableCompression { get; set; }

    /// <summary>
    /// Browser origins (<c>https://app.example.com</c>) whose pages may open the sync WebSocket and send
    /// REST requests that change something (POST, PUT, PATCH, DELETE) besides the server's own; <c>*</c>
    /// allows any. Requests without an <c>Origin</c> (not from a browser) are always allowed. Guards
    /// against cross-site WebSocket hijacking and cross-site request forgery.
    /// </summary>
    /// <value>Empty: only pages served from the same host and port.</value>
    public HashSet<string> AllowedOrigins { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>This node's id in a cluster (shared store): unique per process run.</summary>
    /// <value>A random id, <c>n-</c> and 12 hex digits.</value>
    public string NodeId { get; set; } = "n-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The URL clients reach this node at, shown in <c>GET /v1/cluster</c>.</summary>
    /// <value>None.</value>
    public string? NodeUrl { get; set; }

    /// <summary>With a shared store: how often a node reads the log for changes other nodes committed when no notification came (notifications are only hints).</summary>
    /// <value>500 milliseconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ClusterPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>With a shared store: how often a node records its heartbeat and tries to take the leases of singleton duties it does not hold.</summary>
    /// <value>1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan ClusterHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A node whose last heartbeat is older than this is reported unhealthy.</summary>
    /// <value>5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ClusterNodeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Authentication (API keys, JWT), anonymous access and the default access rules (docs/security.md).</summary>
    public AuthOptions Auth { get; } = new();

    /// <summary>Per-collection settings by collection name; collections not listed use the defaults (policy <c>lww</c>, the default access rules).</summary>
    public Dictionary<string, CollectionOptions> Collections { get; } = new(StringComparer.Ordinal);

    /// <summary>Webhooks by name: HTTP endpoints committed changes are delivered to (docs/microservices.md, "Webhooks").</summary>
    public Dictionary<string, WebhookOptions> Webhooks { get; } = new(StringComparer.Ordinal);

    /// <summary>Server-side mutators by name.</summary>
    internal Dictionary<string, Mutator> Mutators { get; } = new(StringComparer.Ordinal);

    /// <summary>Sets a collection's conflict policy.</summary>
    public LockstepOptions Collection(string name, ConflictPolicy policy)
    {
        CollectionOf(name).Policy = policy;
        return this;
    }

    /// <summary>
    /// Sets who may read and who may write a collection (<see cref="AccessRule"/>s, any of which
    /// allows); null leaves that side to the defaults of <see cref="Auth"/>.
    /// </summary>
    public LockstepOptions Rules(string name, IEnumerable<AccessRule>? read, IEnumerable<AccessRule>? write)
    {
        var collection = CollectionOf(name);
        if (read is not null)
        {
            collection.Read.Clear();
            collection.Read.AddRange(read.Select(r => r.ToString()));
        }
        if (write is not null)
        {
            collection.Write.Clear();
            collection.Write.AddRange(write.Select(r => r.ToString()));
        }
        return this;
    }

    private CollectionOptions CollectionOf(string name)
    {
        if (!Names.IsValidCollection(name))
        {
            throw new ArgumentException($"'{name}' is not a valid collection name.", nameof(name));
        }
        if (!Collections.TryGetValue(name, out var collection))
        {
            collection = new CollectionOptions();
            Collections[name] = collection;
        }
        return collection;
    }

    /// <summary>Registers a server-side mutator that clients call by name.</summary>
    public LockstepOptions Mutator(string name, Mutator mutator)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(mutator);
        Mutators[name] = mutator;
        return this;
    }

    /// <summary>The conflict policy of a collection.</summary>
    public ConflictPolicy PolicyOf(string collection) =>
        Collections.TryGetValue(collection, out var options) ? options.Policy : ConflictPolicy.Lww;
}
