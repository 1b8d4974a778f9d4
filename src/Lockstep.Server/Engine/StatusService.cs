using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>The server as a caller may see it.</summary>
/// <param name="Head">The seq of the last committed change.</param>
/// <param name="Horizon">The oldest seq still in the log minus one.</param>
/// <param name="SubscribedConnections">Sessions this node delivers changes to.</param>
/// <param name="Collections">The collections the caller may read (written or configured), by name, with their conflict policies.</param>
/// <param name="Process">This node's process: its memory and garbage collections.</param>
internal sealed record ServerStatus(long Head, long Horizon, int SubscribedConnections, IReadOnlyList<(string Name, ConflictPolicy Policy)> Collections, ProcessStatus Process);

/// <summary>The server process's memory, for sizing (bytes per connection) and for telling a leak from a cache.</summary>
/// <param name="RssBytes">Resident memory (<see cref="Environment.WorkingSet"/>).</param>
/// <param name="ManagedHeapBytes">The managed heap's size after the last garbage collection (<see cref="GCMemoryInfo.HeapSizeBytes"/>); before the first, all that was allocated.</param>
/// <param name="ManagedAllocatedBytes">Managed bytes thought to be allocated now, garbage not yet collected included (<see cref="GC.GetTotalMemory(bool)"/>).</param>
/// <param name="Gen0Collections">Garbage collections of generation 0 since start.</param>
/// <param name="Gen1Collections">Of generation 1.</param>
/// <param name="Gen2Collections">Of generation 2 (full collections).</param>
internal sealed record ProcessStatus(long RssBytes, long ManagedHeapBytes, long ManagedAllocatedBytes, int Gen0Collections, int Gen1Collections, int Gen2Collections)
{
    /// <summary>The figures now.</summary>
    public static ProcessStatus Now()
    {
        var allocated = GC.GetTotalMemory(forceFullCollection: false);
        // Before the first collection there is no "after the last one" (HeapSizeBytes is 0): the heap holds all that was allocated.
        var last = GC.GetGCMemoryInfo();
        return new(Environment.WorkingSet, last.Index == 0 ? allocated : last.HeapSizeBytes, allocated,
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    }
}

/// <summary>The cluster as this node sees it.</summary>
/// <param name="Self">This node's id.</param>
/// <param name="Clustered">True on a shared store.</param>
/// <param name="Head">This node's head.</param>
/// <param name="CompactionLeaseToken">The compaction lease's fencing token while this node holds it.</param>
/// <param name="Nodes">The registered nodes by id, and whether each is healthy.</param>
internal sealed record ClusterView(string Self, bool Clustered, long Head, long? CompactionLeaseToken, IReadOnlyList<(ClusterNode Node, bool Healthy)> Nodes);

/// <summary>What a caller may learn of the server itself: its status and its cluster (<c>GET /v1/status</c>, <c>GET /v1/cluster</c>).</summary>
internal sealed class StatusService
{
    private readonly IChangeStore _store;
    private readonly AccessPolicy _access;
    private readonly FanOut _fanOut;
    private readonly LogHorizon _horizon;
    private readonly ClusterMembership _membership;
    private readonly LockstepOptions _options;

    public StatusService(IChangeStore store, AccessPolicy access, FanOut fanOut, LogHorizon horizon, ClusterMembership membership, IOptions<LockstepOptions> options)
    {
        _store = store;
        _access = access;
        _fanOut = fanOut;
        _horizon = horizon;
        _membership = membership;
        _options = options.Value;
    }

    public async Task<ServerStatus> GetStatusAsync(Caller caller, CancellationToken cancellationToken)
    {
        await using var reader = await _store.BeginReadAsync(cancellationToken);
        // Configured collections too: a strict one is strict before its first write, and a client
        // reading the status to learn the policies must not take it for lww. Only those the caller may
        // read: a collection's name is data too (system collections show only to whom may read them).
        var collections = (await reader.ListCollectionsAsync(cancellationToken))
            .Union(_options.Collections.Keys, StringComparer.Ordinal)
            .Where(c => !_access.Read(caller, c).None)
            .Order(StringComparer.Ordinal)
            .Select(c => (c, _options.PolicyOf(c)))
            .ToList();
        return new ServerStatus(reader.Head, _horizon.Value, _fanOut.ListenerCount, collections, ProcessStatus.Now());
    }

    /// <summary>The cluster's nodes; <c>forbidden</c> but for API keys and administrators.</summary>
    public async Task<Outcome<ClusterView>> GetClusterAsync(Caller caller, CancellationToken cancellationToken)
    {
        if (!_access.CanSeeCluster(caller))
        {
            return new Rejection(ErrorCodes.Forbidden, "The cluster's nodes are shown to API keys and administrators only.");
        }
        var nodes = await _membership.ListNodesAsync(cancellationToken);
        return new ClusterView(_options.NodeId, _membership.IsClustered, _fanOut.Head, _membership.CompactionLeaseToken,
            [.. nodes.OrderBy(n => n.Node.Id, StringComparer.Ordinal)]);
    }
}
