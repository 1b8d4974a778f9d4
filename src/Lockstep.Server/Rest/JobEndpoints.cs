using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Core.Jobs;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Server.Rest;

/// <summary>
/// The job queues over HTTP (docs/microservices.md, "Job queues") over <see cref="JobService"/>, in the Lockstep
/// route group so they share its filters (rate limits, and authentication when the group has it).
/// </summary>
internal static class JobEndpoints
{
    public static void Map(RouteGroupBuilder routes)
    {
        var group = routes.MapGroup("").AddEndpointFilterFactory(static (factory, next) =>
        {
            var jobs = factory.ApplicationServices.GetRequiredService<JobService>();
            return async invocation =>
            {
                if (jobs.Admit(RestBinding.CallerOf(invocation.HttpContext)) is { } refusal)
                {
                    await Problems.Write(invocation.HttpContext, refusal);
                    return Results.Empty;
                }
                return await next(invocation);
            };
        });
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

    private static async Task EnqueueAsync(HttpContext context, string queue, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue))
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
        var result = await jobs.EnqueueAsync(new NewJob
        {
            Queue = queue, Payload = payload.GetRawText(), Lane = lane, IdempotencyKey = key,
            Delay = TimeSpan.FromMilliseconds(delayMs), MaxAttempts = (int)maxAttempts,
        }, context.RequestAborted);
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

    private static async Task ClaimAsync(HttpContext context, string queue, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue))
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
        var claimed = await jobs.ClaimAsync(queue, (int)max, lease, TimeSpan.FromMilliseconds(waitMs), context.RequestAborted);
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

    private static async Task CompleteAsync(HttpContext context, string id, [FromServices] JobService jobs)
    {
        if (await LeasedAsync(context, jobs, id) is not var (jobId, token, _))
        {
            return;
        }
        if (await jobs.CompleteAsync(jobId, token, context.RequestAborted) is { } refusal)
        {
            await Problems.Write(context, refusal);
            return;
        }
        await RestBinding.WriteJsonAsync(context, jobId, static (w, i) =>
        {
            w.WriteNumber("id", i);
            w.WriteString("state", "done");
        });
    }

    private static async Task FailAsync(HttpContext context, string id, [FromServices] JobService jobs)
    {
        if (await LeasedAsync(context, jobs, id) is not var (jobId, token, root))
        {
            return;
        }
        var error = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "failed";
        var final = root.TryGetProperty("final", out var f) && f.ValueKind == JsonValueKind.True;
        if (!JobWire.TryInteger(root, "retryDelayMs", 0, (long)TimeSpan.FromDays(365).TotalMilliseconds, -1, out var retryDelayMs))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'retryDelayMs' is an integer from 0 to a year.");
            return;
        }
        var retryDelay = retryDelayMs < 0 ? (TimeSpan?)null : TimeSpan.FromMilliseconds(retryDelayMs);
        var outcome = await jobs.FailAsync(jobId, token, error, retryDelay, final, context.RequestAborted);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await RestBinding.WriteJsonAsync(context, (jobId, result: outcome.Value), static (w, s) =>
        {
            w.WriteNumber("id", s.jobId);
            w.WriteString("state", s.result.Dead ? "dead" : "ready");
            if (s.result.RetryAt is { } at)
            {
                w.WriteString("retryAt", at);
            }
        });
    }

    private static async Task ExtendAsync(HttpContext context, string id, [FromServices] JobService jobs)
    {
        if (await LeasedAsync(context, jobs, id) is not var (jobId, token, root))
        {
            return;
        }
        if (!JobWire.TryLease(root, jobs.Options, out var lease))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'leaseMs' is an integer from 100 to {(long)jobs.Options.MaxLeaseDuration.TotalMilliseconds}.");
            return;
        }
        var outcome = await jobs.ExtendAsync(jobId, token, lease, context.RequestAborted);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await RestBinding.WriteJsonAsync(context, (jobId, result: outcome.Value, lease), static (w, s) =>
        {
            w.WriteNumber("id", s.jobId);
            w.WriteString("leaseExpiresAt", s.result.LeaseExpiresAt!.Value);
            w.WriteNumber("leaseMs", (long)s.lease.TotalMilliseconds);
        });
    }

    private static async Task GetJobAsync(HttpContext context, string id, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue: null))
        {
            return;
        }
        var outcome = JobWire.TryId(id, out var jobId) ? await jobs.GetAsync(jobId, context.RequestAborted) : JobService.NotFound(id);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await RestBinding.WriteJsonAsync(context, outcome.Value, JobWire.WriteJobFields);
    }

    private static async Task GetQueueAsync(HttpContext context, string queue, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue))
        {
            return;
        }
        var counts = await jobs.CountAsync(queue, context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, (queue, counts), static (w, s) =>
        {
            w.WriteString("queue", s.queue);
            w.WriteNumber("ready", s.counts[(int)JobState.Ready]);
            w.WriteNumber("leased", s.counts[(int)JobState.Leased]);
            w.WriteNumber("done", s.counts[(int)JobState.Done]);
            w.WriteNumber("dead", s.counts[(int)JobState.Dead]);
        });
    }

    private static async Task ListDeadAsync(HttpContext context, string queue, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue))
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
        var dead = await jobs.ListDeadAsync(queue, after, limit, context.RequestAborted);
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

    private static async Task ReplayAsync(HttpContext context, string queue, [FromServices] JobService jobs)
    {
        if (!await OpenAsync(context, jobs, queue))
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
        var replayed = await jobs.ReplayAsync(queue, ids, context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, replayed, static (w, n) => w.WriteNumber("replayed", n));
    }

    /// <summary>The queue's name checked and the queues open; false (with the problem written) when the name is bad or the store has no queues.</summary>
    private static async Task<bool> OpenAsync(HttpContext context, JobService jobs, string? queue)
    {
        if (queue is not null && !Names.IsValidCollection(queue))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{queue}' is not a valid queue name (1–64 ASCII letters, digits, _ - .).");
            return false;
        }
        if (await jobs.OpenAsync() is { } refusal)
        {
            await Problems.Write(context, refusal, StatusCodes.Status501NotImplemented);
            return false;
        }
        return true;
    }

    /// <summary>The common start of complete, fail and extend: the queues open, the job id and the body's fencing token.</summary>
    private static async Task<(long Id, long Token, JsonElement Body)?> LeasedAsync(HttpContext context, JobService jobs, string id)
    {
        if (!await OpenAsync(context, jobs, queue: null))
        {
            return null;
        }
        if (!JobWire.TryId(id, out var jobId))
        {
            await Problems.Write(context, JobService.NotFound(id));
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
        return (jobId, token, body.RootElement.Clone());
    }
}
