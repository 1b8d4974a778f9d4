using System.Collections.Concurrent;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// The server's side of the job queues: the store (when it has queues), wake-ups for claims that
/// wait, and the periodic purge of done jobs. As a commit observer it wakes this node's waiting claims
/// right after a batch whose mutators enqueued jobs commits.
/// </summary>
internal sealed class JobQueues : BackgroundService, ICommitObserver
{
    private readonly EngineLifetime _lifetime;
    private readonly ILogger<JobQueues> _logger;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _wakeUps = new(StringComparer.Ordinal);

    public JobQueues(IChangeStore store, EngineLifetime lifetime, IOptions<JobQueueOptions> options, ILogger<JobQueues> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Store = store as IJobStore;
        _lifetime = lifetime;
        _logger = logger;
        Options = options.Value;
        Backoff = new JobBackoff(Options.BackoffBase, Options.BackoffMax, Options.BackoffJitter);
    }

    /// <summary>The store's queues; null when the configured store has none.</summary>
    public IJobStore? Store { get; }

    public JobQueueOptions Options { get; }

    public JobBackoff Backoff { get; }

    public JobMetrics Metrics { get; } = new();

    public override void Dispose()
    {
        Metrics.Dispose();
        base.Dispose();
    }

    /// <summary>Cancelled when the server stops.</summary>
    public CancellationToken Stopping => _lifetime.Stopping;

    /// <summary>A task that completes at the next <see cref="Notify"/> of the queue. Take it before looking, so no wake-up is missed.</summary>
    public Task WakeUp(string queue) =>
        _wakeUps.GetOrAdd(queue, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Jobs enqueued by mutators commit with their batch: wakes the claims waiting on their queues.</summary>
    public void OnCommitted(CommittedBatch batch)
    {
        foreach (var queue in batch.JobQueues)
        {
            Notify(queue);
        }
    }

    /// <summary>Wakes the claims waiting on a queue: a job may be claimable.</summary>
    public void Notify(string queue)
    {
        if (_wakeUps.TryRemove(queue, out var wakeUp))
        {
            wakeUp.TrySetResult();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Store is null)
        {
            return;
        }
        if (!await _lifetime.WaitStartedAsync(stoppingToken))
        {
            return;
        }
        var watching = Store is ISharedJobStore shared ? WatchAsync(shared, stoppingToken) : Task.CompletedTask;
        await PurgeLoopAsync(Store, stoppingToken);
        await watching;
    }

    /// <summary>Wakes this node's waiting claims when another node makes a job claimable; listens again after a failure.</summary>
    private async Task WatchAsync(ISharedJobStore shared, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var queue in shared.WatchQueuesAsync(stoppingToken))
                {
                    Notify(queue);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Claims still look every ClaimPollInterval: a lost listener costs latency, never a job.
                Log.JobNotificationsFailed(_logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task PurgeLoopAsync(IJobStore store, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.PurgeInterval);
        try
        {
            do
            {
                try
                {
                    var purged = await store.PurgeDoneAsync(Options.DoneRetention, stoppingToken);
                    if (purged > 0)
                    {
                        Log.JobsPurged(_logger, purged);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.JobPurgeFailed(_logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
        }
    }
}
