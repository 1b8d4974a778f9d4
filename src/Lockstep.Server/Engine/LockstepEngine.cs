using Lockstep.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// The engine's lifecycle: a hosted service that opens the store, starts the sequencer loop and raises
/// <see cref="Started"/>; on stop it tells connections to close, lets queued writes drain, and cancels
/// <see cref="Stopping"/>. The pieces it starts are services of their own (registered by <c>AddLockstep()</c>):
/// the sequencer, the fan-out, the log follower, compaction, cluster membership and connection admission.
/// It also reads out the server's state for status pages and the CLI.
/// </summary>
public sealed class LockstepEngine : IHostedService
{
    private readonly IChangeStore _store;
    private readonly ILogger<LockstepEngine> _logger;
    private readonly EngineLifetime _lifetime;
    private readonly LogHorizon _horizon;
    private Task _sequencerLoop = Task.CompletedTask;

    internal LockstepEngine(IChangeStore store, IOptions<LockstepOptions> options, ILogger<LockstepEngine> logger, EngineLifetime lifetime, Sequencer sequencer,
        FanOut fanOut, LogHorizon horizon, ConnectionAdmission admission, AccessPolicy access, ClientRateLimiter rateLimiter, EngineMetrics metrics, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _logger = logger;
        _lifetime = lifetime;
        _horizon = horizon;
        Options = options.Value;
        Sequencer = sequencer;
        FanOut = fanOut;
        Admission = admission;
        Access = access;
        RateLimiter = rateLimiter;
        Metrics = metrics;
        Time = time;
    }

    /// <summary>The engine's counters.</summary>
    public EngineMetrics Metrics { get; }

    /// <summary>The validated options.</summary>
    public LockstepOptions Options { get; }

    /// <summary>The oldest seq still in the log minus one (changes at or below it were compacted).</summary>
    public long Horizon => _horizon.Value;

    /// <summary>The seq of the last committed change.</summary>
    public long Head => FanOut.Head;

    /// <summary>Open sync connections on this server.</summary>
    public int Connections => Admission.Sessions;

    /// <summary>Sync connections upgraded whose hello has not succeeded yet (<see cref="LockstepOptions.MaxPendingConnections"/>).</summary>
    public int PendingConnections => Admission.Pending;

    /// <summary>Completes once the store is open and the sequencer runs.</summary>
    public Task Started => _lifetime.Started;

    /// <summary>Cancelled when the server stops.</summary>
    public CancellationToken Stopping => _lifetime.Stopping;

    // What a sync session needs, read through the engine (Sync/* takes the engine; these forward to the services).

    internal IChangeStore Store => _store;

    internal FanOut FanOut { get; }

    internal Sequencer Sequencer { get; }

    internal AccessPolicy Access { get; }

    internal ClientRateLimiter RateLimiter { get; }

    internal ConnectionAdmission Admission { get; }

    internal TimeProvider Time { get; }

    /// <summary>True when the store is shared by several nodes (a cluster).</summary>
    internal bool IsClustered => _store is ISharedChangeStore;

    /// <summary>Cancelled when connections should say goodbye (the application is stopping).</summary>
    internal CancellationToken ClosingConnections => _lifetime.ClosingConnections;

    /// <summary>Counts a connection of a client id; false (nothing counted) when it already has the most allowed.</summary>
    internal bool TryOpenClientConnection(string clientId) => Admission.TryOpenClient(clientId);

    /// <summary>Forgets a connection counted by <see cref="TryOpenClientConnection"/>.</summary>
    internal void CloseClientConnection(string clientId) => Admission.CloseClient(clientId);

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
            _horizon.Observe(status.Horizon);
            FanOut.Start(status.Head);
            Log.StoreOpened(_logger, status.Head, status.Horizon);
            LogConnectionBudget(Admission.Budget);
            _sequencerLoop = Task.Run(() => Sequencer.RunAsync(_lifetime.Stopping), CancellationToken.None);
            _lifetime.MarkStarted();
        }
        catch (Exception e)
        {
            _lifetime.MarkFailed(e);
            throw;
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
        await _sequencerLoop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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
}
