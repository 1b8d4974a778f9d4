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
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _closingConnections = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _sequencerLoop = Task.CompletedTask;
    private Task _compactionLoop = Task.CompletedTask;
    private int _disposed;

    /// <summary>Creates the engine (the DI container does this).</summary>
    public LockstepEngine(IChangeStore store, IOptions<LockstepOptions> options, ILogger<LockstepEngine> logger, TimeProvider? time = null,
        IHostApplicationLifetime? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Connections are told first, when the application starts stopping: before the web server
        // stops (it would abort them) and before the sequencer drains.
        lifetime?.ApplicationStopping.Register(() => _closingConnections.Cancel());
        _store = store;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Options = options.Value;
        Clock = new HybridClock(_time);
        FanOut = new FanOut();
        Sequencer = new Sequencer(store, FanOut, Clock, Options, Metrics, logger);
    }

    /// <summary>The engine's counters.</summary>
    public EngineMetrics Metrics { get; } = new();

    /// <summary>The validated options.</summary>
    public LockstepOptions Options { get; }

    internal HybridClock Clock { get; }

    internal FanOut FanOut { get; }

    internal Sequencer Sequencer { get; }

    internal IChangeStore Store => _store;

    /// <summary>The oldest seq still in the log minus one (changes at or below it were compacted).</summary>
    public long Horizon { get; private set; }

    /// <summary>The seq of the last committed change.</summary>
    public long Head => FanOut.Head;

    /// <summary>Completes once the store is open and the sequencer runs.</summary>
    public Task Started => _started.Task;

    /// <summary>Cancelled when the server stops.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Cancelled when connections should say goodbye (the application is stopping).</summary>
    internal CancellationToken ClosingConnections => _closingConnections.Token;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var status = await _store.OpenAsync(cancellationToken);
            Horizon = status.Horizon;
            FanOut.Start(status.Head);
            Log.StoreOpened(_logger, status.Head, status.Horizon);
            _sequencerLoop = Task.Run(() => Sequencer.RunAsync(_stopping.Token), CancellationToken.None);
            _compactionLoop = Task.Run(() => CompactLoopAsync(_stopping.Token), CancellationToken.None);
            _started.TrySetResult();
        }
        catch (Exception e)
        {
            _started.TrySetException(e);
            throw;
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _closingConnections.CancelAsync();
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
        await _stopping.CancelAsync();
        try
        {
            await Task.WhenAll(_sequencerLoop, _compactionLoop).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Compacts the log now, keeping the newest <see cref="LockstepOptions.RetainedChanges"/> changes.</summary>
    public async Task<long> CompactAsync(CancellationToken cancellationToken)
    {
        var upTo = Head - Options.RetainedChanges;
        if (upTo <= Horizon)
        {
            return 0;
        }
        var removed = await _store.CompactAsync(upTo, cancellationToken);
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

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // DI may dispose the engine twice: as itself and as the hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync();
        _stopping.Dispose();
        _closingConnections.Dispose();
        Metrics.Dispose();
    }
}
