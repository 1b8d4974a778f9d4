using Lockstep.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// This node's place in a cluster (a shared store): its heartbeat in the node registry, and the
/// <c>compaction</c> lease — kept while held, tried for while another node holds it. On start it
/// heartbeats once before the server takes connections; on stop it gives the lease back and leaves the
/// registry. Without a shared store it only answers <see cref="ListNodesAsync"/> with this node.
/// </summary>
internal sealed class ClusterMembership : IHostedService, IDisposable
{
    /// <summary>The lease whose holder compacts the shared log.</summary>
    public const string CompactionLeaseName = "compaction";

    private readonly ISharedChangeStore? _shared;
    private readonly FanOut _fanOut;
    private readonly EngineLifetime _lifetime;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private IStoreLease? _compactionLease;
    private DateTimeOffset _startedAt;
    private int _disposed;

    public ClusterMembership(IChangeStore store, FanOut fanOut, EngineLifetime lifetime, IOptions<LockstepOptions> options, ILogger<ClusterMembership> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _shared = store as ISharedChangeStore;
        _fanOut = fanOut;
        _lifetime = lifetime;
        _options = options.Value;
        _logger = logger;
        _time = time;
    }

    /// <summary>True when the store is shared by several nodes (a cluster).</summary>
    public bool IsClustered => _shared is not null;

    /// <summary>The compaction lease when this node holds it, else null.</summary>
    public IStoreLease? CompactionLease => Volatile.Read(ref _compactionLease);

    /// <summary>The fencing token of the compaction lease when this node holds it, else null.</summary>
    public long? CompactionLeaseToken => CompactionLease?.FencingToken;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The node registry's entry carries the head: the store must be open first.
        await _lifetime.Started.WaitAsync(cancellationToken);
        _startedAt = _time.GetUtcNow();
        if (_shared is null)
        {
            return;
        }
        await HeartbeatAsync(_shared, cancellationToken);
        _loop = Task.Run(() => RunAsync(_shared, _stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_shared is null)
        {
            return;
        }
        if (CompactionLease is { } lease)
        {
            await DropLeaseAsync(lease);
        }
        try
        {
            await _shared.LeaveAsync(_options.NodeId, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.HeartbeatFailed(_logger, e);
        }
    }

    /// <summary>The nodes of the cluster as the registry knows them (just this one without a shared store).</summary>
    public async Task<IReadOnlyList<(ClusterNode Node, bool Healthy)>> ListNodesAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_shared is null)
        {
            return [(new ClusterNode(_options.NodeId, _options.NodeUrl, _startedAt, now, _fanOut.Head), true)];
        }
        var nodes = await _shared.ListNodesAsync(cancellationToken);
        return [.. nodes.Select(n => (n, now - n.LastHeartbeat <= _options.ClusterNodeTimeout))];
    }

    /// <summary>Gives up a lease this node no longer holds (another node took it, or a fenced write found it lost).</summary>
    public async Task DropLeaseAsync(IStoreLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (Interlocked.CompareExchange(ref _compactionLease, null, lease) != lease)
        {
            return;
        }
        Log.LeaseLost(_logger, lease.Name, lease.FencingToken);
        try
        {
            await lease.DisposeAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.HeartbeatFailed(_logger, e);
        }
    }

    public void Dispose()
    {
        // DI disposes it twice: as itself and as the hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private ValueTask HeartbeatAsync(ISharedChangeStore shared, CancellationToken cancellationToken) =>
        shared.HeartbeatAsync(new ClusterNode(_options.NodeId, _options.NodeUrl, _startedAt, _time.GetUtcNow(), _fanOut.Head), cancellationToken);

    /// <summary>Heartbeats, and the compaction lease: kept while held, tried for while another node holds it.</summary>
    private async Task RunAsync(ISharedChangeStore shared, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ClusterHeartbeatInterval, _time);
        try
        {
            do
            {
                try
                {
                    await HeartbeatAsync(shared, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.HeartbeatFailed(_logger, e);
                }
                try
                {
                    if (CompactionLease is { } held)
                    {
                        if (!await held.IsHeldAsync(cancellationToken))
                        {
                            await DropLeaseAsync(held);
                        }
                    }
                    else if (await shared.TryAcquireLeaseAsync(CompactionLeaseName, _options.NodeId, cancellationToken) is { } taken)
                    {
                        Volatile.Write(ref _compactionLease, taken);
                        Log.LeaseTaken(_logger, taken.Name, taken.FencingToken);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.HeartbeatFailed(_logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
        }
    }
}
