using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server.Rest;

/// <summary>
/// The job queues over HTTP (docs/microservices.md, "Job queues"), in the Lockstep route group so
/// they share its filters (rate limits, and authentication when the group has it).
/// </summary>
internal static class JobEndpoints
{
    private const int MaxErrorLength = 4096;

    public static void Map(RouteGroupBuilder routes)
    {
        // Job queues are a back-end facility: API keys with the jobs (or write) scope, or whom Auth:Jobs admits.
        var group = routes.MapGroup("").AddEndpointFilter(AuthorizeAsync);
        group.MapPost("/queues/{queue}/jobs", EnqueueAsync);
        group.MapPost("/queues/{queue}/claim", ClaimAsync);
        group.MapGet("/queues/{queue}", GetQueueAsync);
        group.MapGet("/queues/{queue}/dead", ListDeadAsync);
        group.MapPost("/queues/{queue}/dead/replay", ReplayAsync);
        group.MapGet("/jobs/{id}", GetJobAsync);
        group.MapPost("/jobs/{id}/complete", CompleteAsync);
        group.MapPost("/jobs/{id}/fail", FailAsync);
        group.MapPost("/jobs/{id}/extend", ExtendAsync);
    }

    private static async ValueTask<object?> AuthorizeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        if (!context.RequestServices.GetRequiredService<AccessPolicy>().CanUseJobs(RestBinding.CallerOf(context)))
        {
            await Problems.Write(context, ErrorCodes.Forbidden, "The job queues need an API key with the jobs or write scope (or a rule in Lockstep:Auth:Jobs).");
            return Results.Empty;
        }
        return await next(invocation);
    }

    private static async Task EnqueueAsync(HttpContext context, string queue)
    {
        if (await StartAsync(context, queue) is not { } jobs)
        {
            return;
        }
        using var body = await RestBinding.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var root = body.RootElement;
        if (!root.TryGetProperty("payload", out var payload))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "A job has a 'payload': any JSON value.");
            return;
        }
        if (!JobWire.TryLane(root, out var lane) || !JobWire.TryInteger(root, "delayMs", 0, (long)TimeSpan.FromDays(365).TotalMilliseconds, 0, out var delayMs)
            || !JobWire.TryInteger(root, "maxAttempts", 1, 1000, jobs.Options.DefaultMaxAttempts, out var maxAttempts))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest,
                "'lane' is high, medium or low; 'delayMs' an integer from 0 to a year; 'maxAttempts' an integer from 1 to 1000.");
            return;
        }
        string? key = null;
        if (root.TryGetProperty("idempotencyKey", out var k) && k.ValueKind != JsonValueKind.Null)
        {
            key = k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            if (key is not { Length: > 0 and <= 256 })
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, "'idempotencyKey' is a string of 1 to 256 characters.");
                return;
            }
        }
        var result = await jobs.Store!.EnqueueAsync(new NewJob
        {
            Queue = queue, Payload = payload.GetRawText(), Lane = lane, IdempotencyKey = key,
            Delay = TimeSpan.FromMilliseconds(delayMs), MaxAttempts = (int)maxAttempts,
        }, context.RequestAborted);
        if (result.Created)
        {
            Log.JobEnqueued(Logger(context), result.Job.Id, queue, JobWire.LaneName(result.Job.Lane));
            jobs.Metrics.Enqueued.Add(1);
            jobs.Notify(queue);
        }
        context.Response.StatusCode = result.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK;
        await RestBinding.WriteJsonAsync(context, result, static (w, r) =>
        {
            JobWire.WriteJobFields(w, r.Job);
            if (!r.Created)
            {
                w.WriteBoolean("duplicate", true);
            }
        });
    }

    private static async Task ClaimAsync(HttpContext context, string queue)
    {
        if (await StartAsync(context, queue) is not { } jobs)
        {
            return;
        }
        using var body = await RestBinding.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var root = body.RootElement;
        var options = jobs.Options;
        if (!JobWire.TryInteger(root, "max", 1, options.MaxClaimCount, 1, out var max)
            || !JobWire.TryLease(root, options, out var lease)
            || !JobWire.TryInteger(root, "waitMs", 0, (long)options.MaxClaimWait.TotalMilliseconds, 0, out var waitMs))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest,
                $"'max' is an integer from 1 to {options.MaxClaimCount}; 'leaseMs' from 100 to {(long)options.MaxLeaseDuration.TotalMilliseconds}; 'waitMs' from 0 to {(long)options.MaxClaimWait.TotalMilliseconds}.");
            return;
        }
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, jobs.Stopping);
        var waited = Stopwatch.StartNew();
        IReadOnlyList<JobRecord> claimed;
        while (true)
        {
            var wakeUp = jobs.WakeUp(queue);
            claimed = await jobs.Store!.ClaimAsync(queue, (int)max, lease, context.RequestAborted);
            var left = TimeSpan.FromMilliseconds(waitMs) - waited.Elapsed;
            if (claimed.Count > 0 || left <= TimeSpan.Zero)
            {
                break;
            }
            try
            {
                await Task.WhenAny(wakeUp, Task.Delay(left < options.ClaimPollInterval ? left : options.ClaimPollInterval, cancel.Token));
                cancel.Token.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                break; // the server is stopping: answer with nothing rather than hold the request
            }
        }
        jobs.Metrics.Claimed.Add(claimed.Count);
        await RestBinding.WriteJsonAsync(context, (claimed, lease), static (w, s) =>
        {
            w.WriteStartArray("jobs");
            foreach (var job in s.claimed)
            {
                w.WriteStartObject();
                JobWire.WriteJobFields(w, job);
                w.WriteNumber("leaseMs", (long)s.lease.TotalMilliseconds);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    private static async Task CompleteAsync(HttpContext context, string id)
    {
        if (await StartLeasedAsync(context, id) is not { } started)
        {
            return;
        }
        var (jobs, jobId, token, _) = started;
        var status = await jobs.Store!.CompleteAsync(jobId, token, context.RequestAborted);
        if (await RefusedAsync(context, jobs, status, jobId, token))
        {
            return;
        }
        jobs.Metrics.Completed.Add(1);
        await RestBinding.WriteJsonAsync(context, jobId, static (w, i) =>
        {
            w.WriteNumber("id", i);
            w.WriteString("state", "done");
        });
    }

    private static async Task FailAsync(HttpContext context, string id)
    {
        if (await StartLeasedAsync(context, id) is not { } started)
        {
            return;
        }
        var (jobs, jobId, token, root) = started;
        var error = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "failed";
        if (error.Length > MaxErrorLength)
        {
            error = error[..MaxErrorLength];
        }
        var final = root.TryGetProperty("final", out var f) && f.ValueKind == JsonValueKind.True;
        if (!JobWire.TryInteger(root, "retryDelayMs", 0, (long)TimeSpan.FromDays(365).TotalMilliseconds, -1, out var retryDelayMs))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'retryDelayMs' is an integer from 0 to a year.");
            return;
        }
        var retryDelay = retryDelayMs < 0 ? (TimeSpan?)null : TimeSpan.FromMilliseconds(retryDelayMs);
        var result = await jobs.Store!.FailAsync(jobId, token, error, jobs.Backoff, retryDelay, final, context.RequestAborted);
        if (await RefusedAsync(context, jobs, result.Status, jobId, token))
        {
            return;
        }
        (result.Dead ? jobs.Metrics.Dead : jobs.Metrics.Retried).Add(1);
        if (result.Dead)
        {
            var job = await jobs.Store.GetJobAsync(jobId, context.RequestAborted);
            Log.JobDead(Logger(context), jobId, job?.Queue ?? "?", job?.Attempts ?? 0);
        }
        await RestBinding.WriteJsonAsync(context, (jobId, result), static (w, s) =>
        {
            w.WriteNumber("id", s.jobId);
            w.WriteString("state", s.result.Dead ? "dead" : "ready");
            if (s.result.RetryAt is { } at)
            {
                w.WriteString("retryAt", at);
            }
        });
    }

    private static async Task ExtendAsync(HttpContext context, string id)
    {
        if (await StartLeasedAsync(context, id) is not { } started)
        {
            return;
        }
        var (jobs, jobId, token, root) = started;
        if (!JobWire.TryLease(root, jobs.Options, out var lease))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'leaseMs' is an integer from 100 to {(long)jobs.Options.MaxLeaseDuration.TotalMilliseconds}.");
            return;
        }
        var result = await jobs.Store!.ExtendAsync(jobId, token, lease, context.RequestAborted);
        if (await RefusedAsync(context, jobs, result.Status, jobId, token))
        {
            return;
        }
        await RestBinding.WriteJsonAsync(context, (jobId, result, lease), static (w, s) =>
        {
            w.WriteNumber("id", s.jobId);
            w.WriteString("leaseExpiresAt", s.result.LeaseExpiresAt!.Value);
            w.WriteNumber("leaseMs", (long)s.lease.TotalMilliseconds);
        });
    }

    private static async Task GetJobAsync(HttpContext context, string id)
    {
        if (await StartAsync(context, queue: null) is not { } jobs)
        {
            return;
        }
        if (!JobWire.TryId(id, out var jobId) || await jobs.Store!.GetJobAsync(jobId, context.RequestAborted) is not { } job)
        {
            await Problems.Write(context, ErrorCodes.JobNotFound, $"There is no job {id}.");
            return;
        }
        await RestBinding.WriteJsonAsync(context, job, JobWire.WriteJobFields);
    }

    private static async Task GetQueueAsync(HttpContext context, string queue)
    {
        if (await StartAsync(context, queue) is not { } jobs)
        {
            return;
        }
        var counts = await jobs.Store!.CountJobsAsync(queue, context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, (queue, counts), static (w, s) =>
        {
            w.WriteString("queue", s.queue);
            w.WriteNumber("ready", s.counts[(int)JobState.Ready]);
            w.WriteNumber("leased", s.counts[(int)JobState.Leased]);
            w.WriteNumber("done", s.counts[(int)JobState.Done]);
            w.WriteNumber("dead", s.counts[(int)JobState.Dead]);
        });
    }

    private static async Task ListDeadAsync(HttpContext context, string queue)
    {
        if (await StartAsync(context, queue) is not { } jobs)
        {
            return;
        }
        var query = context.Request.Query;
        var after = 0L;
        var limit = 100;
        if ((query.ContainsKey("after") && !long.TryParse(query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out after))
            || (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000)))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'after' is a job id; 'limit' an integer from 1 to 1000.");
            return;
        }
        var dead = await jobs.Store!.ListDeadAsync(queue, after, limit, context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, (dead, limit), static (w, s) =>
        {
            w.WriteStartArray("jobs");
            foreach (var job in s.dead)
            {
                w.WriteStartObject();
                JobWire.WriteJobFields(w, job);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (s.dead.Count == s.limit)
            {
                w.WriteNumber("next", s.dead[^1].Id);
            }
            else
            {
                w.WriteNull("next");
            }
        });
    }

    private static async Task ReplayAsync(HttpContext context, string queue)
    {
        if (await StartAsync(context, queue) is not { } jobs)
        {
            return;
        }
        using var body = await RestBinding.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        List<long>? ids = null;
        if (body.RootElement.TryGetProperty("ids", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            ids = [];
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() > 10_000)
            {
                ids = null;
            }
            else
            {
                foreach (var item in list.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var n))
                    {
                        ids = null;
                        break;
                    }
                    ids.Add(n);
                }
            }
            if (ids is null)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, "'ids' is an array of at most 10,000 job ids; leave it out to replay every dead letter of the queue.");
                return;
            }
        }
        var replayed = await jobs.Store!.ReplayAsync(queue, ids, context.RequestAborted);
        if (replayed > 0)
        {
            Log.JobsReplayed(Logger(context), replayed, queue);
            jobs.Metrics.Replayed.Add(replayed);
            jobs.Notify(queue);
        }
        await RestBinding.WriteJsonAsync(context, replayed, static (w, n) => w.WriteNumber("replayed", n));
    }

    /// <summary>The queues, once the store is open; null (with the problem written) when the name is bad or the store has no queues.</summary>
    private static async Task<JobQueues?> StartAsync(HttpContext context, string? queue)
    {
        if (queue is not null && !Names.IsValidCollection(queue))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{queue}' is not a valid queue name (1–64 ASCII letters, digits, _ - .).");
            return null;
        }
        var jobs = context.RequestServices.GetRequiredService<JobQueues>();
        if (jobs.Store is null)
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "This server's store has no job queues.", 501);
            return null;
        }
        await context.RequestServices.GetRequiredService<EngineLifetime>().Started;
        return jobs;
    }

    /// <summary>The common start of complete, fail and extend: the queues, the job id and the body's fencing token.</summary>
    private static async Task<(JobQueues Jobs, long Id, long Token, JsonElement Body)?> StartLeasedAsync(HttpContext context, string id)
    {
        if (await StartAsync(context, queue: null) is not { } jobs)
        {
            return null;
        }
        if (!JobWire.TryId(id, out var jobId))
        {
            await Problems.Write(context, ErrorCodes.JobNotFound, $"There is no job {id}.");
            return null;
        }
        using var body = await RestBinding.ReadObjectAsync(context);
        if (body is null)
        {
            return null;
        }
        if (!body.RootElement.TryGetProperty("token", out var t) || t.ValueKind != JsonValueKind.Number || !t.TryGetInt64(out var token) || token < 1)
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "The request needs the lease's fencing 'token' (a positive integer, from the claim).");
            return null;
        }
        return (jobs, jobId, token, body.RootElement.Clone());
    }

    private static async Task<bool> RefusedAsync(HttpContext context, JobQueues jobs, JobUpdateStatus status, long id, long token)
    {
        switch (status)
        {
            case JobUpdateStatus.Ok:
                return false;
            case JobUpdateStatus.NotFound:
                await Problems.Write(context, ErrorCodes.JobNotFound, $"There is no job {id}.");
                return true;
            default:
                jobs.Metrics.LeaseLost.Add(1);
                await Problems.Write(context, ErrorCodes.LeaseLost,
                    $"Fencing token {token} is not the current lease of job {id}: the lease expired and another worker took the job, or the job is finished. Drop this attempt's result.");
                return true;
        }
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Lockstep.Jobs");
}
