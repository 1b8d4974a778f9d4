using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Lockstep.Client.Jobs;
using Lockstep.Core.Jobs;
using Lockstep.Server;
using Lockstep.Server.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The job SDK against the real server (in-process, SQLite), and a worker in a process of its own that is killed mid-job.</summary>
public sealed class JobWorkerTests : IAsyncLifetime
{
    private static readonly string WorkerKey = ApiKeys.Generate();
    private TestServer _server = null!;

    /// <summary>Open to anyone (most tests send no token), and one API key with the jobs scope.</summary>
    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        var key = new ApiKeyOptions { Name = "worker", Hash = ApiKeys.Hash(WorkerKey) };
        key.Scopes.Add("jobs");
        o.Auth.ApiKeys.Add(key);
    }, build: b => b.Services.Configure<JobQueueOptions>(o =>
    {
        o.BackoffBase = TimeSpan.FromMilliseconds(100);
        o.BackoffJitter = 0;
        o.ClaimPollInterval = TimeSpan.FromMilliseconds(100);
    }));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Uri ApiUrl => new(_server.HttpUrl, "/v1/");

    private LockstepJobs Jobs(string? token = null, HttpClient? http = null) =>
        new(new LockstepJobsOptions { BaseUrl = ApiUrl, BearerToken = token, HttpClient = http });

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException(what);
            }
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_worker_with_concurrency_four_processes_every_job_exactly_once()
    {
        using var jobs = Jobs();
        const int Count = 60;
        for (var i = 0; i < Count; i++)
        {
            await jobs.EnqueueAsync("work", new JsonObject { ["n"] = i }, new JobEnqueueOptions { Lane = (JobLane)(i % 3) }, CancellationToken.None);
        }
        var seen = new ConcurrentDictionary<int, int>();
        var running = 0;
        var most = 0;
        await using (var worker = new JobWorker(jobs, async (job, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            seen.AddOrUpdate((int)job.Payload!["n"]!, 1, (_, c) => c + 1);
            await Task.Delay(20, ct);
            Interlocked.Decrement(ref running);
        }, new JobWorkerOptions { Queue = "work", Concurrency = 4, ClaimWait = TimeSpan.FromSeconds(1) }))
        {
            await worker.StartAsync(CancellationToken.None);
            await EventuallyAsync(async () => await DoneAsync("work") == Count, "all jobs done");
        }
        Assert.Equal(Count, seen.Count);
        Assert.All(seen.Values, c => Assert.Equal(1, c));
        Assert.InRange(most, 2, 4);
        Assert.Equal(Count, await DoneAsync("work"));
    }

    [Fact]
    public async Task A_worker_killed_mid_job_has_its_job_redelivered_after_the_lease_and_its_stale_token_is_refused()
    {
        using var jobs = Jobs();
        var enqueued = await jobs.EnqueueAsync("crash", new JsonObject { ["email"] = "ana" }, CancellationToken.None);
        long staleToken;
        using (var process = Processes.Start("tests/tools/Lockstep.Client.Crasher", "Lockstep.Client.Crasher", "job", ApiUrl.ToString(), "crash", "1500"))
        {
            try
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                var parts = line!.Split(' ');
                Assert.Equal(["started", enqueued.Id.ToString(CultureInfo.InvariantCulture)], parts[..2]);
                staleToken = long.Parse(parts[2], CultureInfo.InvariantCulture);
                // The worker extends its lease while alive: past one lease, the job is still its own.
                await Task.Delay(2000);
                Assert.Equal(JobState.Leased, (await jobs.GetJobAsync(enqueued.Id, CancellationToken.None))!.State);
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        var attempts = new ConcurrentBag<int>();
        await using (var worker = new JobWorker(jobs, (job, _) =>
        {
            attempts.Add(job.Attempt);
            return Task.CompletedTask;
        }, new JobWorkerOptions { Queue = "crash", ClaimWait = TimeSpan.FromSeconds(1) }))
        {
            await worker.StartAsync(CancellationToken.None);
            await EventuallyAsync(async () => await DoneAsync("crash") == 1, "the job redelivered and done");
        }
        Assert.Equal([2], attempts);
        var done = (await jobs.GetJobAsync(enqueued.Id, CancellationToken.None))!;
        Assert.Equal(JobState.Done, done.State);
        Assert.True(done.Token > staleToken);
        var refused = await Assert.ThrowsAsync<JobLeaseLostException>(() => jobs.CompleteAsync(enqueued.Id, staleToken, CancellationToken.None));
        Assert.Equal("lease_lost", refused.Code);
    }

    [Fact]
    public async Task A_handler_that_throws_fails_its_job_until_it_is_a_dead_letter_and_a_replay_runs_it_again()
    {
        using var jobs = Jobs();
        var job = await jobs.EnqueueAsync("flaky", new JsonObject(), new JobEnqueueOptions { MaxAttempts = 3, IdempotencyKey = "once" }, CancellationToken.None);
        Assert.True((await jobs.EnqueueAsync("flaky", new JsonObject(), new JobEnqueueOptions { IdempotencyKey = "once" }, CancellationToken.None)).Duplicate);
        var calls = 0;
        var heal = false;
        await using var worker = new JobWorker(jobs, (context, _) =>
        {
            Interlocked.Increment(ref calls);
            return Volatile.Read(ref heal) ? Task.CompletedTask : throw new InvalidOperationException($"smtp down (attempt {context.Attempt})");
        }, new JobWorkerOptions { Queue = "flaky", ClaimWait = TimeSpan.FromMilliseconds(500) });
        await worker.StartAsync(CancellationToken.None);
        await EventuallyAsync(async () => (await jobs.ListDeadAsync("flaky", 0, 10, CancellationToken.None)).Count == 1, "a dead letter");
        var dead = Assert.Single(await jobs.ListDeadAsync("flaky", 0, 10, CancellationToken.None));
        Assert.Equal(job.Id, dead.Id);
        Assert.Equal(3, dead.Attempts);
        Assert.Equal("InvalidOperationException: smtp down (attempt 3)", dead.LastError);
        Assert.Equal(3, Volatile.Read(ref calls));

        Volatile.Write(ref heal, true);
        Assert.Equal(1, await jobs.ReplayAsync("flaky", null, CancellationToken.None));
        await EventuallyAsync(async () => await DoneAsync("flaky") == 1, "the replayed job done");
        Assert.Equal(1, (await jobs.GetJobAsync(job.Id, CancellationToken.None))!.Attempts);
    }

    [Fact]
    public async Task The_bearer_token_option_is_sent_on_every_request_and_the_server_checks_it()
    {
        using var wrong = Jobs(ApiKeys.Generate());
        var refused = await Assert.ThrowsAsync<LockstepException>(() => wrong.EnqueueAsync("auth", null, CancellationToken.None));
        Assert.Equal("unauthorized", refused.Code);

        var seen = new ConcurrentQueue<string?>();
        using var http = new HttpClient(new Recorder(seen, new SocketsHttpHandler()));
        using var jobs = Jobs(WorkerKey, http);
        await jobs.EnqueueAsync("auth", null, CancellationToken.None);
        var claimed = Assert.Single(await jobs.ClaimAsync("auth", 5, TimeSpan.FromSeconds(10), TimeSpan.Zero, CancellationToken.None));
        Assert.Null(claimed.Payload);
        await jobs.CompleteAsync(claimed.Id, claimed.Token, CancellationToken.None);
        Assert.Equal(3, seen.Count);
        Assert.All(seen, h => Assert.Equal("Bearer " + WorkerKey, h));
    }

    [Fact]
    public async Task A_worker_that_stalled_past_its_lease_has_its_handler_cancelled_and_cannot_complete_the_job()
    {
        var blockExtensions = false;
        using var http = new HttpClient(new Recorder(new ConcurrentQueue<string?>(), new SocketsHttpHandler(),
            r => Volatile.Read(ref blockExtensions) && r.RequestUri!.AbsolutePath.EndsWith("/extend", StringComparison.Ordinal)));
        using var stalled = Jobs(http: http);
        using var other = Jobs();
        var id = (await other.EnqueueAsync("stall", new JsonObject(), CancellationToken.None)).Id;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = new JobWorker(stalled, async (_, ct) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult();
                throw;
            }
        }, new JobWorkerOptions { Queue = "stall", LeaseDuration = TimeSpan.FromMilliseconds(600), ExtendInterval = TimeSpan.FromMilliseconds(200), ClaimWait = TimeSpan.FromSeconds(1) });
        await worker.StartAsync(CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The worker cannot reach the server to extend (a partition, a long pause): its lease runs out and another worker takes the job.
        Volatile.Write(ref blockExtensions, true);
        var taken = Assert.Single(await other.ClaimAsync("stall", 1, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Equal(id, taken.Id);
        Assert.Equal(2, taken.Token);
        Volatile.Write(ref blockExtensions, false);

        // Its next extension is refused with lease_lost: the handler is cancelled and nothing is reported under the stale lease.
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await EventuallyAsync(() => Task.FromResult(worker.Running == 0), "the stalled handler ended");
        var job = (await other.GetJobAsync(id, CancellationToken.None))!;
        Assert.Equal(JobState.Leased, job.State);
        Assert.Equal(2, job.Token);
        Assert.Equal("lease expired", job.LastError);
        await other.CompleteAsync(id, taken.Token, CancellationToken.None);
    }

    [Fact]
    public async Task A_worker_registered_in_a_host_serves_its_queue_while_the_host_runs()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddLockstepJobs(o => o.BaseUrl = ApiUrl);
        var seen = new ConcurrentBag<int>();
        builder.Services.AddLockstepJobWorker(o =>
        {
            o.Queue = "hosted";
            o.Concurrency = 2;
            o.ClaimWait = TimeSpan.FromSeconds(1);
        }, _ => (job, _) =>
        {
            seen.Add((int)job.Payload!);
            return Task.CompletedTask;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var jobs = host.Services.GetRequiredService<LockstepJobs>();
        for (var i = 0; i < 5; i++)
        {
            await jobs.EnqueueAsync("hosted", JsonValue.Create(i), CancellationToken.None);
        }
        await EventuallyAsync(async () => (await jobs.GetQueueCountsAsync("hosted", CancellationToken.None)).Done == 5, "the hosted worker did the jobs");
        await host.StopAsync();
        Assert.Equal([0, 1, 2, 3, 4], seen.Order());
    }

    private async Task<long> DoneAsync(string queue)
    {
        using var response = await _server.Http.GetAsync($"/v1/queues/{queue}");
        response.EnsureSuccessStatusCode();
        return (long)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["done"]!;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    /// <summary>Records each request's Authorization header, and fails the requests <paramref name="drop"/> picks as if the network were down.</summary>
    private sealed class Recorder(ConcurrentQueue<string?> seen, HttpMessageHandler inner, Func<HttpRequestMessage, bool>? drop = null) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (drop?.Invoke(request) == true)
            {
                throw new HttpRequestException("dropped by the test");
            }
            seen.Enqueue(request.Headers.Authorization?.ToString());
            return base.SendAsync(request, cancellationToken);
        }
    }
}
