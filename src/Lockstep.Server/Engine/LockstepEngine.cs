using Lockstep.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// The running engine: the store, the sequencer and the fan-out. A hosted service opens the store on
/// start, runs the sequencer loop and periodic compaction, and drains on stop.
/// </summary>
public sealed class LockstepEngine : IHostedService, IAsyncDisposable
{
    private readonly IChangeStore _store;
    private readonly ILogger<LockstepEngine> _logger;
    private readonly TimeProvider _time;
    private readonly EngineLifetime _lifetime;
    private Task _sequencerLoop = Task.CompletedTask;
    private Task _compactionLoop = Task.CompletedTask;
    private int _disposed;

    /// <summary>Creates the engine (the DI container does this).</summary>
    internal LockstepEngine(IChangeStore store, IOptions<LockstepOptions> options, ILogger<LockstepEngine> logger, EngineLifetime lifetime,
        MutatorRegistry mutators, IEnumerable<ICommitObserver> observers, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _lifetime = lifetime;
        _store = store;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Options = options.Value;
        RateLimiter = new ClientRateLimiter(Options);
        Admission = new ConnectionAdmission(ConnectionBudget.ForThisProcess(Options), Options);
        Access = new AccessPolicy(Options);
        Clock = new HybridClock(_time);
        FanOut = new FanOut();
        _shared = store as ISharedChangeStore;
        Follower = _shared is null ? null : new LogFollower(store, FanOut, Options, logger, ObserveHorizon);
        Sequencer = new Sequencer(store, FanOut, Clock, Options, Access, Metrics, logger, mutators, observers, Follower);
    }

    private readonly ISharedChangeStore? _shared;
    private Task[] _clusterLoops = [];
    private IStoreLease? _compactionLease;
    private DateTimeOffset _startedAt;

    /// <summary>True when the store is shared by several nodes (a cluster).</summary>
    public bool IsClustered => _shared is not null;

    /// <summary>The fencing token of the compaction lease when this node holds it, else null.</summary>
    public long? CompactionLeaseToken => Volatile.Read(ref _compactionLease)?.FencingToken;

    internal LogFollower? Follower { get; }

    /// <summary>The engine's counters.</summary>
    public EngineMetrics Metrics { get; } = new();

    /// <summary>The validated options.</summary>
    public LockstepOptions Options { get; }

    internal HybridClock Clock { get; }

    /// <summary>The access rules and API keys, parsed from the options.</summary>
    internal AccessPolicy Access { get; }

    internal TimeProvider Time => _time;

    internal FanOut FanOut { get; }

    internal Sequencer Sequencer { get; }

    internal IChangeStore Store => _store;

    /// <summary>The oldest seq still in the log minus one (changes at or below it were compacted).</summary>
    public long Horizon
    {
        get => Interlocked.Read(ref _horizon);
        private set => ObserveHorizon(value);
    }

    private long _horizon;

    /// <summary>Moves the horizon forward (never back): this node's compaction, or another node's seen in the store.</summary>
    private void ObserveHorizon(long horizon)
    {
        var current = Interlocked.Read(ref _horizon);
        while (horizon > current)
        {
            var seen = Interlocked.CompareExchange(ref _horizon, horizon, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    /// <summary>The seq of the last committed change.</summary>
    public long Head => FanOut.Head;

    /// <summary>Completes once the store is open and the sequencer runs.</summary>
    public Task Started => _lifetime.Started;

    /// <summary>Cancelled when the server stops.</summary>
    public CancellationToken Stopping => _lifetime.Stopping;

    /// <summary>Cancelled when connections should say goodbye (the application is stopping).</summary>
    internal CancellationToken ClosingConnections => _lifetime.ClosingConnections;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Admission.Budget.Problem is { } problem)
            {
                throw new InvalidOperationException(problem);
            }
            var status = await _store.OpenAsync(cancellationToken);
            Horizon = status.Horizon;
            FanOut.Start(status.Head);
            Log.StoreOpened(_logger, status.Head, status.Horizon);
            LogConnectionBudget(Admission.Budget);
            _startedAt = _time.GetUtcNow();
            _sequencerLoop = Task.Run(() => Sequencer.RunAsync(_lifetime.Stopping), CancellationToken.None);
            _compactionLoop = Task.Run(() => CompactLoopAsync(_lifetime.Stopping), CancellationToken.None);
            if (_shared is not null)
            {
                await HeartbeatAsync(_shared, cancellationToken);
                _clusterLoops =
                [
                    Task.Run(() => Follower!.RunAsync(_lifetime.Stopping), CancellationToken.None),
                    Task.Run(() => WatchNotificationsAsync(_shared, _lifetime.Stopping), CancellationToken.None),
                    Task.Run(() => ClusterLoopAsync(_shared, _lifetime.Stopping), CancellationToken.None),
                ];
            }
            _lifetime.MarkStarted();
        }
        catch (Exception e)
        {
            _lifetime.MarkFailed(e);
            throw;
        }
    }

    private void LogConnectionBudget(ConnectionBudget budget)
    {
        if (budget.OpenFilesLimit is not { } limit)
        {
            Log.ConnectionsLimited(_logger, budget.Sessions, "MaxConnections; the open-files limit is unknown or unlimited");
        }
        else if (budget.LimitedByOpenFiles)
        {
            Log.ConnectionsLimitedByOpenFiles(_logger, budget.Sessions, limit, budget.OpenAtStart, budget.Reserve, budget.Pending, budget.Http ?? 0);
        }
        else
        {
            Log.ConnectionsLimited(_logger, budget.Sessions, $"MaxConnections, within the open-files limit {limit}");
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _lifetime.CloseConnections();
        Sequencer.Complete();
        try
        {
            // Let queued writes finish (the channel is completed, so the loop ends when it is empty).
            await _sequencerLoop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // fall through: cancel below
        }
        await _lifetime.StopAsync();
        try
        {
            await Task.WhenAll([_sequencerLoop, _compactionLoop, .. _clusterLoops]).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        if (_shared is not null)
        {
            await LeaveClusterAsync(_shared, cancellationToken);
        }
    }

    /// <summary>
    /// Compacts the log now, keeping the newest <see cref="LockstepOptions.RetainedChanges"/> changes.
    /// In a cluster only the holder of the compaction lease compacts (fenced by its token); other nodes return 0.
    /// </summary>
    public async Task<long> CompactAsync(CancellationToken cancellationToken)
    {
        var upTo = Head - Options.RetainedChanges;
        if (upTo <= Horizon)
        {
            return 0;
        }
        long removed;
        if (_shared is not null)
        {
            if (Volatile.Read(ref _compactionLease) is not { } lease)
            {
                return 0;
            }
            try
            {
                removed = await _shared.CompactAsync(upTo, lease, cancellationToken);
            }
            catch (LeaseLostException)
            {
                await DropLeaseAsync(lease);
                return 0;
            }
        }
        else
        {
            removed = await _store.CompactAsync(upTo, cancellationToken);
        }
        Horizon = upTo;
        Log.Compacted(_logger, removed, upTo);
        return removed;
    }

    private async Task CompactLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.CompactionInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await CompactAsync(cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.CompactionFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private readonly KeyedCounts<string> _connectionsByClient = new(StringComparer.Ordinal);
    /// <summary>Per-client rate limits (<see cref="LockstepOptions.RateLimitPerSecond"/>).</summary>
    internal ClientRateLimiter RateLimiter { get; }

    /// <summary>The server-wide count of sync connections, within the open-files limit.</summary>
    internal ConnectionAdmission Admission { get; }

    /// <summary>Open sync connections on this server.</summary>
    public int Connections => Admission.Sessions;

    /// <summary>Sync connections upgraded whose hello has not succeeded yet (<see cref="LockstepOptions.MaxPendingConnections"/>).</summary>
    public int PendingConnections => Admission.Pending;

    /// <summary>Counts a connection of a client id; false (nothing counted) when it already has the most allowed.</summary>
    internal bool TryOpenClientConnection(string clientId) => _connectionsByClient.TryIncrement(clientId, Options.MaxConnectionsPerClient);

    /// <summary>Forgets a connection counted by <see cref="TryOpenClientConnection"/>.</summary>
    internal void CloseClientConnection(string clientId) => _connectionsByClient.Decrement(clientId);

    /// <summary>The nodes of the cluster as the registry knows them (just this one without a shared store).</summary>
    public async Task<IReadOnlyList<(ClusterNode Node, bool Healthy)>> ListNodesAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_shared is null)
        {
            return [(new ClusterNode(Options.NodeId, Options.NodeUrl, _startedAt, now, Head), true)];
        }
        var nodes = await _shared.ListNodesAsync(cancellationToken);
        return [.. nodes.Select(n => (n, now - n.LastHeartbeat <= Options.ClusterNodeTimeout))];
    }

    private ValueTask HeartbeatAsync(ISharedChangeStore shared, CancellationToken cancellationToken) =>
        shared.HeartbeatAsync(new ClusterNode(Options.NodeId, Options.NodeUrl, _startedAt, _time.GetUtcNow(), Head), cancellationToken);

    /// <summary>Heartbeats, and the compaction lease: kept while held, tried for while another node holds it.</summary>
    private async Task ClusterLoopAsync(ISharedChangeStore shared, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.ClusterHeartbeatInterval, _time);
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
                    if (Volatile.Read(ref _compactionLease) is { } held)
                    {
                        if (!await held.IsHeldAsync(cancellationToken))
                        {
                            await DropLeaseAsync(held);
                        }
                    }
                    else if (await shared.TryAcquireLeaseAsync("compaction", Options.NodeId, cancellationToken) is { } taken)
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

    private async Task DropLeaseAsync(IStoreLease lease)
    {
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

    /// <summary>Commit notifications wake the follower; when listening fails, the follower's polling covers it until it works again.</summary>
    private async Task WatchNotificationsAsync(ISharedChangeStore shared, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var head in shared.WatchHeadAsync(cancellationToken))
                {
                    if (head > FanOut.Head)
                    {
                        Follower!.Wake();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.NotificationsFailed(_logger, e);
                try
                {
                    await Task.Delay(Options.ClusterPollInterval, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task LeaveClusterAsync(ISharedChangeStore shared, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _compactionLease) is { } lease)
        {
            await DropLeaseAsync(lease);
        }
        try
        {
            await shared.LeaveAsync(Options.NodeId, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.HeartbeatFailed(_logger, e);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // DI may dispose the engine twice: as itself and as the hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _lifetime.StopAsync();
        RateLimiter.Dispose();
        Metrics.Dispose();
    }
}
