using System.Diagnostics;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Lockstep.Protocol;
using Lockstep.Server.Rest;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>
/// The job queues' operations (docs/microservices.md, "Job queues"): who may use them, enqueue, claim (waiting
/// for work up to a bound), complete, fail, extend, and the dead letters. The metrics, logs and wake-ups of each
/// live here, so whichever transport calls it counts the same.
/// </summary>
internal sealed class JobService
{
    /// <summary>The longest failure message kept with a job; longer ones are cut.</summary>
    public const int MaxErrorLength = 4096;

    private readonly JobQueues _queues;
    private readonly EngineLifetime _lifetime;
    private readonly AccessPolicy _access;
    private readonly ILogger _logger;

    public JobService(JobQueues queues, EngineLifetime lifetime, AccessPolicy access, ILoggerFactory loggers)
    {
        _queues = queues;
        _lifetime = lifetime;
        _access = access;
        _logger = loggers.CreateLogger("Lockstep.Jobs");
    }

    public JobQueueOptions Options => _queues.Options;

    private IJobStore Store => _queues.Store ?? throw new InvalidOperationException("The store has no job queues: call OpenAsync first.");

    /// <summary>Job queues are a back-end facility: API keys with the jobs (or write) scope, or whom <c>Auth:Jobs</c> admits; null when the caller may use them.</summary>
    public Rejection? Admit(Caller caller) => _access.CanUseJobs(caller)
        ? null
        : new Rejection(ErrorCodes.Forbidden, "The job queues need an API key with the jobs or write scope (or a rule in Lockstep:Auth:Jobs).");

    /// <summary>Waits for the store to be open; a refusal when the store has no queues (a server's limit, not the request's).</summary>
    public async Task<Rejection?> OpenAsync()
    {
        if (_queues.Store is null)
        {
            return new Rejection(ErrorCodes.InvalidRequest, "This server's store has no job queues.");
        }
        await _lifetime.Started;
        return null;
    }

    /// <summary>Enqueues a job, or finds the one enqueued earlier under its idempotency key (<see cref="EnqueueResult.Created"/> false).</summary>
    public async Task<EnqueueResult> EnqueueAsync(NewJob job, CancellationToken cancellationToken)
    {
        var result = await Store.EnqueueAsync(job, cancellationToken);
        if (result.Created)
        {
            Log.JobEnqueued(_logger, result.Job.Id, job.Queue, JobWire.LaneName(result.Job.Lane));
            _queues.Metrics.Enqueued.Add(1);
            _queues.Notify(job.Queue);
        }
        return result;
    }

    /// <summary>Up to <paramref name="max"/> jobs leased for <paramref name="lease"/>; with none ready, waits up to <paramref name="wait"/> (woken by enqueues) and answers empty when the server stops.</summary>
    public async Task<IReadOnlyList<JobRecord>> ClaimAsync(string queue, int max, TimeSpan lease, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _queues.Stopping);
        var waited = Stopwatch.StartNew();
        IReadOnlyList<JobRecord> claimed;
        while (true)
        {
            var wakeUp = _queues.WakeUp(queue);
            claimed = await Store.ClaimAsync(queue, max, lease, cancellationToken);
            var left = wait - waited.Elapsed;
            if (claimed.Count > 0 || left <= TimeSpan.Zero)
            {
                break;
            }
            try
            {
                await Task.WhenAny(wakeUp, Task.Delay(left < Options.ClaimPollInterval ? left : Options.ClaimPollInterval, cancel.Token));
                cancel.Token.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break; // the server is stopping: answer with nothing rather than hold the request
            }
        }
        _queues.Metrics.Claimed.Add(claimed.Count);
        return claimed;
    }

    /// <summary>Marks a leased job done; null when it was, else <c>job_not_found</c> or <c>lease_lost</c>.</summary>
    public async Task<Rejection?> CompleteAsync(long id, long token, CancellationToken cancellationToken)
    {
        if (Refusal(await Store.CompleteAsync(id, token, cancellationToken), id, token) is { } refusal)
        {
            return refusal;
        }
        _queues.Metrics.Completed.Add(1);
        return null;
    }

    /// <summary>Records a leased job's failure: retried after the backoff (or <paramref name="retryDelay"/>), or dead when its attempts are spent or it is <paramref name="final"/>.</summary>
    public async Task<Outcome<JobFailResult>> FailAsync(long id, long token, string error, TimeSpan? retryDelay, bool final, CancellationToken cancellationToken)
    {
        if (error.Length > MaxErrorLength)
        {
            error = error[..MaxErrorLength];
        }
        var result = await Store.FailAsync(id, token, error, _queues.Backoff, retryDelay, final, cancellationToken);
        if (Refusal(result.Status, id, token) is { } refusal)
        {
            return refusal;
        }
        (result.Dead ? _queues.Metrics.Dead : _queues.Metrics.Retried).Add(1);
        if (result.Dead)
        {
            var job = await Store.GetJobAsync(id, cancellationToken);
            Log.JobDead(_logger, id, job?.Queue ?? "?", job?.Attempts ?? 0);
        }
        return result;
    }

    /// <summary>Extends a job's lease to <paramref name="lease"/> from now.</summary>
    public async Task<Outcome<JobExtendResult>> ExtendAsync(long id, long token, TimeSpan lease, CancellationToken cancellationToken)
    {
        var result = await Store.ExtendAsync(id, token, lease, cancellationToken);
        return Refusal(result.Status, id, token) is { } refusal ? refusal : result;
    }

    /// <summary>A job by id; <c>job_not_found</c> when there is none.</summary>
    public async Task<Outcome<JobRecord>> GetAsync(long id, CancellationToken cancellationToken) =>
        await Store.GetJobAsync(id, cancellationToken) is { } job ? job : NotFound(id);

    /// <summary>A queue's jobs by state, indexed by <see cref="JobState"/>.</summary>
    public async Task<long[]> CountAsync(string queue, CancellationToken cancellationToken) => await Store.CountJobsAsync(queue, cancellationToken);

    /// <summary>A page of a queue's dead jobs, by id after <paramref name="after"/>.</summary>
    public async Task<IReadOnlyList<JobRecord>> ListDeadAsync(string queue, long after, int limit, CancellationToken cancellationToken) =>
        await Store.ListDeadAsync(queue, after, limit, cancellationToken);

    /// <summary>Makes dead jobs ready again (those of <paramref name="ids"/>, or all of the queue's); how many.</summary>
    public async Task<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken)
    {
        var replayed = await Store.ReplayAsync(queue, ids, cancellationToken);
        if (replayed > 0)
        {
            Log.JobsReplayed(_logger, replayed, queue);
            _queues.Metrics.Replayed.Add(replayed);
            _queues.Notify(queue);
        }
        return replayed;
    }

    /// <summary>The refusal of a job that is not there (or an id that names none).</summary>
    public static Rejection NotFound<T>(T id) => new(ErrorCodes.JobNotFound, $"There is no job {id}.");

    private Rejection? Refusal(JobUpdateStatus status, long id, long token)
    {
        switch (status)
        {
            case JobUpdateStatus.Ok:
                return null;
            case JobUpdateStatus.NotFound:
                return NotFound(id);
            default:
                _queues.Metrics.LeaseLost.Add(1);
                return new Rejection(ErrorCodes.LeaseLost,
                    $"Fencing token {token} is not the current lease of job {id}: the lease expired and another worker took the job, or the job is finished. Drop this attempt's result.");
        }
    }
}
