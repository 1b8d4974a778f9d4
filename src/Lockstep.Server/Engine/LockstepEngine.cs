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
    private readonly Sequencer _sequencer;
    private readonly FanOut _fanOut;
    private readonly ConnectionAdmission _admission;
    private Task _sequencerLoop = Task.CompletedTask;

    internal LockstepEngine(IChangeStore store, IOptions<LockstepOptions> options, ILogger<LockstepEngine> logger, EngineLifetime lifetime, Sequencer sequencer,
        FanOut fanOut, LogHorizon horizon, ConnectionAdmission admission, EngineMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _logger = logger;
        _lifetime = lifetime;
        _horizon = horizon;
        Options = options.Value;
        _sequencer = sequencer;
        _fanOut = fanOut;
        _admission = admission;
        Metrics = metrics;
    }

    /// <summary>The engine's counters.</summary>
    public EngineMetrics Metrics { get; }

    /// <summary>The validated options.</summary>
    public LockstepOptions Options { get; }

    /// <summary>The oldest seq still in the log minus one (changes at or below it were compacted).</summary>
    public long Horizon => _horizon.Value;

    /// <summary>The seq of the last committed change.</summary>
    public long Head => _fanOut.Head;

    /// <summary>Open sync connections on this server.</summary>
    public int Connections => _admission.Sessions;

    /// <summary>Sync connections upgraded whose hello has not succeeded yet (<see cref="LockstepOptions.MaxPendingConnections"/>).</summary>
    public int PendingConnections => _admission.Pending;

    /// <summary>Completes once the store is open and the sequencer runs.</summary>
    public Task Started => _lifetime.Started;

    /// <summary>Cancelled when the server stops.</summary>
    public CancellationToken Stopping => _lifetime.Stopping;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_admission.Budget.Problem is { } problem)
            {
                throw new InvalidOperationException(problem);
            }
            var status = await _store.OpenAsync(cancellationToken);
            _horizon.Observe(status.Horizon);
            _fanOut.Start(status.Head);
            Log.StoreOpened(_logger, status.Head, status.Horizon);
            LogConnectionBudget(_admission.Budget);
            _sequencerLoop = Task.Run(() => _sequencer.RunAsync(_lifetime.Stopping), CancellationToken.None);
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
        _sequencer.Complete();
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
