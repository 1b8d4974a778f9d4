using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core.Jobs;
using Lockstep.Protocol;

namespace Lockstep.Client.Jobs;

/// <summary>
/// The job queue API over HTTP (docs/microservices.md, "Job queues"): enqueue, claim, complete, fail,
/// extend, dead letters and replay. Thread-safe. Refusals throw <see cref="LockstepException"/> with
/// the server's code (<see cref="JobLeaseLostException"/> for <c>lease_lost</c>). For a worker loop
/// with concurrency and lease extension, use <see cref="JobWorker"/>.
/// </summary>
public sealed class LockstepJobs : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _baseUrl;
    private readonly AuthenticationHeaderValue? _authorization;

    /// <summary>Creates the client (checking the options).</summary>
    public LockstepJobs(LockstepJobsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.BaseUrl is not { IsAbsoluteUri: true } baseUrl)
        {
            throw new ArgumentException("LockstepJobsOptions.BaseUrl must be an absolute URL such as http://127.0.0.1:5080/v1/.", nameof(options));
        }
        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        _authorization = string.IsNullOrEmpty(options.BearerToken) ? null : new AuthenticationHeaderValue("Bearer", options.BearerToken);
        _ownsHttp = options.HttpClient is null;
        _http = options.HttpClient ?? new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary>Enqueues a job (<c>POST queues/{queue}/jobs</c>).</summary>
    /// <returns>The job; <see cref="JobInfo.Duplicate"/> when its idempotency key matched an existing one.</returns>
    public async Task<JobInfo> EnqueueAsync(string queue, JsonNode? payload, JobEnqueueOptions? options, CancellationToken cancellationToken)
    {
        options ??= new JobEnqueueOptions();
        var body = new JsonObject
        {
            ["payload"] = payload?.DeepClone(),
            ["lane"] = LaneName(options.Lane),
        };
        if (options.Delay > TimeSpan.Zero)
        {
            body["delayMs"] = (long)options.Delay.TotalMilliseconds;
        }
        if (options.IdempotencyKey is not null)
        {
            body["idempotencyKey"] = options.IdempotencyKey;
        }
        if (options.MaxAttempts is { } max)
        {
            body["maxAttempts"] = max;
        }
        var answer = await SendAsync(HttpMethod.Post, $"queues/{Escape(queue)}/jobs", body, cancellationToken);
        return ToJob(answer);
    }

    /// <summary>Enqueues a job in the medium lane with the server's defaults.</summary>
    public Task<JobInfo> EnqueueAsync(string queue, JsonNode? payload, CancellationToken cancellationToken) =>
        EnqueueAsync(queue, payload, null, cancellationToken);

    /// <summary>
    /// Leases up to <paramref name="max"/> jobs for <paramref name="lease"/> (<c>POST queues/{queue}/claim</c>),
    /// waiting on the server up to <paramref name="wait"/> for one to come.
    /// </summary>
    /// <returns>The leased jobs (high lane first); empty when none came within the wait.</returns>
    public async Task<IReadOnlyList<JobInfo>> ClaimAsync(string queue, int max, TimeSpan lease, TimeSpan wait, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["max"] = max,
            ["leaseMs"] = (long)lease.TotalMilliseconds,
            ["waitMs"] = (long)wait.TotalMilliseconds,
        };
        var answer = await SendAsync(HttpMethod.Post, $"queues/{Escape(queue)}/claim", body, cancellationToken);
        return answer["jobs"]!.AsArray().Select(j => ToJob(j!.AsObject())).ToList();
    }

    /// <summary>Completes a job under its lease (<c>POST jobs/{id}/complete</c>).</summary>
    /// <exception cref="JobLeaseLostException">The token is not the job's newest lease.</exception>
    public Task CompleteAsync(long id, long token, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"jobs/{Id(id)}/complete", new JsonObject { ["token"] = token }, cancellationToken);

    /// <summary>
    /// Fails this attempt of a job (<c>POST jobs/{id}/fail</c>): it is retried after the server's backoff
    /// (or <paramref name="retryDelay"/>), or becomes a dead letter on its last attempt or when <paramref name="final"/>.
    /// </summary>
    /// <returns>True when the job became a dead letter.</returns>
    /// <exception cref="JobLeaseLostException">The token is not the job's newest lease.</exception>
    public async Task<bool> FailAsync(long id, long token, string error, TimeSpan? retryDelay, bool final, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["token"] = token, ["error"] = error, ["final"] = final };
        if (retryDelay is { } delay)
        {
            body["retryDelayMs"] = (long)delay.TotalMilliseconds;
        }
        var answer = await SendAsync(HttpMethod.Post, $"jobs/{Id(id)}/fail", body, cancellationToken);
        return (string?)answer["state"] == "dead";
    }

    /// <summary>Extends a lease to now + <paramref name="lease"/> (<c>POST jobs/{id}/extend</c>).</summary>
    /// <returns>The lease's new end, by the server's clock.</returns>
    /// <exception cref="JobLeaseLostException">The token is not the job's newest lease.</exception>
    public async Task<DateTimeOffset> ExtendAsync(long id, long token, TimeSpan lease, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(HttpMethod.Post, $"jobs/{Id(id)}/extend",
            new JsonObject { ["token"] = token, ["leaseMs"] = (long)lease.TotalMilliseconds }, cancellationToken);
        return answer["leaseExpiresAt"]!.GetValue<DateTimeOffset>();
    }

    /// <summary>One job (<c>GET jobs/{id}</c>); null when there is none.</summary>
    public async Task<JobInfo?> GetJobAsync(long id, CancellationToken cancellationToken)
    {
        try
        {
            return ToJob(await SendAsync(HttpMethod.Get, $"jobs/{Id(id)}", null, cancellationToken));
        }
        catch (LockstepException e) when (e.Code == ErrorCodes.JobNotFound.Code)
        {
            return null;
        }
    }

    /// <summary>How many jobs of a queue are in each state (<c>GET queues/{queue}</c>).</summary>
    public async Task<JobQueueCounts> GetQueueCountsAsync(string queue, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(HttpMethod.Get, $"queues/{Escape(queue)}", null, cancellationToken);
        return new JobQueueCounts((string)answer["queue"]!, (long)answer["ready"]!, (long)answer["leased"]!, (long)answer["done"]!, (long)answer["dead"]!);
    }

    /// <summary>A page of a queue's dead letters with id &gt; <paramref name="afterId"/> (<c>GET queues/{queue}/dead</c>).</summary>
    public async Task<IReadOnlyList<JobInfo>> ListDeadAsync(string queue, long afterId, int limit, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(HttpMethod.Get,
            string.Create(CultureInfo.InvariantCulture, $"queues/{Escape(queue)}/dead?after={afterId}&limit={limit}"), null, cancellationToken);
        return answer["jobs"]!.AsArray().Select(j => ToJob(j!.AsObject())).ToList();
    }

    /// <summary>Replays dead letters (all of the queue's when <paramref name="ids"/> is null): ready at once, attempts reset.</summary>
    /// <returns>How many were replayed.</returns>
    public async Task<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken)
    {
        var body = new JsonObject();
        if (ids is not null)
        {
            body["ids"] = new JsonArray(ids.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());
        }
        var answer = await SendAsync(HttpMethod.Post, $"queues/{Escape(queue)}/dead/replay", body, cancellationToken);
        return (int)answer["replayed"]!;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseUrl, path));
        request.Headers.Authorization = _authorization;
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        using var response = await _http.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode && await RestResponses.ReadAsync(response, cancellationToken) is { } json)
        {
            return json;
        }
        var refusal = await RestResponses.RefusalAsync(response, cancellationToken);
        throw refusal.Code == ErrorCodes.LeaseLost.Code ? new JobLeaseLostException(refusal.Message) : refusal;
    }

    private static JobInfo ToJob(JsonObject o) => new()
    {
        Id = (long)o["id"]!,
        Queue = (string)o["queue"]!,
        Lane = (string?)o["lane"] switch { "high" => JobLane.High, "low" => JobLane.Low, _ => JobLane.Medium },
        State = (string?)o["state"] switch { "ready" => JobState.Ready, "leased" => JobState.Leased, "done" => JobState.Done, _ => JobState.Dead },
        Payload = o["payload"]?.DeepClone(),
        IdempotencyKey = (string?)o["idempotencyKey"],
        Attempts = (int)o["attempts"]!,
        MaxAttempts = (int)o["maxAttempts"]!,
        Token = (long)o["token"]!,
        RunAt = o["runAt"]?.GetValue<DateTimeOffset>() ?? default,
        LeaseExpiresAt = o["leaseExpiresAt"]?.GetValue<DateTimeOffset>(),
        Lease = o["leaseMs"] is { } ms ? TimeSpan.FromMilliseconds((long)ms) : null,
        LastError = (string?)o["lastError"],
        EnqueuedAt = o["enqueuedAt"]?.GetValue<DateTimeOffset>() ?? default,
        FinishedAt = o["finishedAt"]?.GetValue<DateTimeOffset>(),
        Duplicate = (bool?)o["duplicate"] ?? false,
    };

    private static string LaneName(JobLane lane) => lane switch
    {
        JobLane.High => "high",
        JobLane.Low => "low",
        _ => "medium",
    };

    private static string Escape(string queue) => Uri.EscapeDataString(queue);

    private static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);
}
