using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Client.Jobs;

/// <summary>
/// Serves one queue: claims jobs (long polling) while fewer than <see cref="JobWorkerOptions.Concurrency"/>
/// run, hands each to the handler, extends its lease while the handler runs, completes it when the
/// handler returns and fails it (with the exception's message) when the handler throws. A lease that
/// is lost cancels the handler's token and drops its result. An <see cref="IHostedService"/>: register
/// it with <c>AddHostedService</c>, or call <see cref="StartAsync"/> and <see cref="StopAsync"/>.
/// </summary>
public sealed class JobWorker : IHostedService, IAsyncDisposable
{
    private readonly LockstepJobs _jobs;
    private static readonly TimeSpan MinimumClaimCycle = TimeSpan.FromSeconds(1);
    private readonly JobHandler _handler;
    private readonly JobWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeSpan _extendInterval;
    private readonly CancellationTokenSource _stopClaiming = new();
    private readonly CancellationTokenSource _stopHandlers = new();
    private readonly SemaphoreSlim _slots;
    private readonly Lock _runningLock = new();
    private readonly HashSet<Task> _running = [];
    private Task _loop = Task.CompletedTask;

    /// <summary>Creates the worker (checking the options); <see cref="StartAsync"/> starts it.</summary>
    public JobWorker(LockstepJobs jobs, JobHandler handler, JobWorkerOptions options, ILogger<JobWorker>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _jobs = jobs;
        _handler = handler;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _extendInterval = options.ExtendInterval ?? options.LeaseDuration / 3;
        _slots = new SemaphoreSlim(options.Concurrency, options.Concurrency);
    }

    /// <summary>How many jobs the handler is running now.</summary>
    public int Running
    {
        get
        {
            lock (_runningLock)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>Starts claiming in the background.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => ClaimLoopAsync(_stopClaiming.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops claiming, then waits for the running handlers to finish; when <paramref name="cancellationToken"/>
    /// fires first (the host's shutdown timeout), cancels their tokens and fails their jobs for a prompt retry elsewhere.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopClaiming.CancelAsync();
        try
        {
            await _loop.WaitAsync(cancellationToken);
            await Task.WhenAll(Snapshot()).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await _stopHandlers.CancelAsync();
            await Task.WhenAll(Snapshot()).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await StopAsync(stop.Token);
        }
        _stopClaiming.Dispose();
        _stopHandlers.Dispose();
        _slots.Dispose();
    }

    private Task[] Snapshot()
    {
        lock (_runningLock)
        {
            return [.. _running];
        }
    }

    private async Task ClaimLoopAsync(CancellationToken stopping)
    {
        var errorDelay = _options.ErrorDelay;
        while (!stopping.IsCancellationRequested)
        {
            var free = 0;
            try
            {
                await _slots.WaitAsync(stopping);
                free = 1;
                while (_slots.Wait(0, CancellationToken.None))
                {
                    free++;
                }
                var claimed = await _jobs.ClaimAsync(_options.Queue, free, _options.LeaseDuration, _options.ClaimWait, stopping);
                errorDelay = _options.ErrorDelay;
                if (claimed.Count == 0 && _options.ClaimWait < MinimumClaimCycle)
                {
                    // Without (much) long polling an empty queue would be asked again at once, in a tight loop.
                    _slots.Release(free);
                    free = 0;
                    await Task.Delay(MinimumClaimCycle - _options.ClaimWait, stopping);
                }
                foreach (var job in claimed)
                {
                    free--;
                    Track(Task.Run(() => ProcessAsync(job), CancellationToken.None));
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Log.ClaimFailed(_logger, e, _options.Queue, errorDelay);
                await Task.Delay(errorDelay, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                errorDelay = TimeSpan.FromTicks(Math.Min(errorDelay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
            finally
            {
                if (free > 0)
                {
                    _slots.Release(free);
                }
            }
        }
    }

    private void Track(Task task)
    {
        lock (_runningLock)
        {
            _running.Add(task);
        }
        task.ContinueWith(t =>
        {
            lock (_runningLock)
            {
                _running.Remove(t);
            }
            _slots.Release();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task ProcessAsync(JobInfo job)
    {
        using var handlerToken = CancellationTokenSource.CreateLinkedTokenSource(_stopHandlers.Token);
        using var stopExtending = new CancellationTokenSource();
        var leaseLost = false;
        var extender = ExtendLoopAsync(job, () =>
        {
            leaseLost = true;
            handlerToken.Cancel();
        }, stopExtending.Token);
        Exception? failure = null;
        try
        {
            await _handler(new JobContext(job), handlerToken.Token);
        }
#pragma warning disable CA1031 // a handler's exception of any type fails its job
        catch (Exception e)
#pragma warning restore CA1031
        {
            failure = e;
        }
        await stopExtending.CancelAsync();
        await extender;
        if (leaseLost)
        {
            Log.JobLeaseLost(_logger, job.Id, job.Token);
            return;
        }
        try
        {
            if (failure is null)
            {
                await WithRetriesAsync(() => _jobs.CompleteAsync(job.Id, job.Token, CancellationToken.None));
                Log.JobDone(_logger, job.Id);
            }
            else
            {
                Log.JobHandlerFailed(_logger, failure, job.Id, job.Attempts);
                var stopped = failure is OperationCanceledException && _stopHandlers.IsCancellationRequested;
                // A job cut short by a stopping worker goes back at once; a real failure waits its backoff.
                await WithRetriesAsync(() => _jobs.FailAsync(job.Id, job.Token, stopped ? "worker stopped" : $"{failure.GetType().Name}: {failure.Message}",
                    stopped ? TimeSpan.Zero : null, final: false, CancellationToken.None));
            }
        }
        catch (JobLeaseLostException)
        {
            Log.JobLeaseLost(_logger, job.Id, job.Token);
        }
#pragma warning disable CA1031 // the lease expires and the job is redelivered: nothing else to do
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.JobReportFailed(_logger, e, job.Id);
        }
    }

    /// <summary>
    /// Reports an outcome, retrying twice (after 200 and 400 ms) when the server could not be reached or
    /// answered with a transient error: a short blip should not cost a redelivery. Repeating a report is
    /// safe: a report that was applied makes its repeat answer <c>lease_lost</c>, which is dropped.
    /// </summary>
    private static async Task WithRetriesAsync(Func<Task> report)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await report();
                return;
            }
            catch (Exception e) when (attempt < 3 && e is HttpRequestException or TaskCanceledException or LockstepException { IsTransient: true })
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
    }

    /// <summary>Extends the lease every <see cref="_extendInterval"/> until stopped; calls <paramref name="lost"/> when the server says the lease is gone.</summary>
    private async Task ExtendLoopAsync(JobInfo job, Action lost, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_extendInterval, stop);
                try
                {
                    await _jobs.ExtendAsync(job.Id, job.Token, _options.LeaseDuration, stop);
                }
                catch (JobLeaseLostException)
                {
                    lost();
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed extension is retried at the next interval; the lease may still hold.
                    Log.JobReportFailed(_logger, e, job.Id);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
