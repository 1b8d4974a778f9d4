using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Core.Jobs;
using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>
/// The behaviour every job store must have, on real time: the SQLite store's clock and PostgreSQL's
/// <c>now()</c>. Waits are short and bounded (a claim loop with a deadline), and nothing asserts speed.
/// </summary>
public abstract class JobStoreContract : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly JobBackoff NoJitter = new(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10), 0);
    private readonly List<IChangeStore> _open = [];

    /// <summary>Creates a store over fresh, empty storage (the same storage on every call within one test).</summary>
    protected abstract IChangeStore CreateStore();

    protected async Task<IJobStore> OpenAsync()
    {
        var store = CreateStore();
        _open.Add(store);
        await store.OpenAsync(CancellationToken.None);
        return (IJobStore)store;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }
    }

    protected static Task<EnqueueResult> EnqueueAsync(IJobStore store, string payload, JobLane lane = JobLane.Medium, string queue = "q",
        string? key = null, TimeSpan delay = default, int maxAttempts = 5) =>
        store.EnqueueAsync(new NewJob { Queue = queue, Payload = payload, Lane = lane, IdempotencyKey = key, Delay = delay, MaxAttempts = maxAttempts },
            CancellationToken.None).AsTask();

    protected static async Task<JobRecord?> ClaimOneAsync(IJobStore store, TimeSpan? lease = null, string queue = "q") =>
        (await store.ClaimAsync(queue, 1, lease ?? Long, CancellationToken.None)).SingleOrDefault();

    /// <summary>Claims until a job comes (at most 15 s): for jobs that become due later.</summary>
    protected static async Task<JobRecord> ClaimEventuallyAsync(IJobStore store, TimeSpan? lease = null, string queue = "q")
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (await ClaimOneAsync(store, lease, queue) is { } job)
            {
                return job;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("No job became claimable in 15 s.");
    }

    [Fact]
    public async Task Jobs_of_one_lane_are_claimed_in_enqueue_order()
    {
        var store = await OpenAsync();
        for (var i = 0; i < 5; i++)
        {
            await EnqueueAsync(store, $"{{\"n\":{i}}}");
        }
        var claimed = new List<string>();
        while (await ClaimOneAsync(store) is { } job)
        {
            claimed.Add(job.Payload);
            Assert.Equal(JobState.Leased, job.State);
            Assert.Equal(1, job.Attempts);
            Assert.Equal(1, job.Token);
        }
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{{\"n\":{i}}}"), claimed);
        Assert.Empty(await store.ClaimAsync("q", 10, Long, CancellationToken.None));
    }

    [Fact]
    public async Task High_is_served_before_medium_before_low()
    {
        var store = await OpenAsync();
        await EnqueueAsync(store, "\"low\"", JobLane.Low);
        await EnqueueAsync(store, "\"medium\"", JobLane.Medium);
        await EnqueueAsync(store, "\"high\"", JobLane.High);
        await EnqueueAsync(store, "\"other queue\"", JobLane.High, queue: "other");
        Assert.Equal("\"high\"", (await ClaimOneAsync(store))!.Payload);
        Assert.Equal("\"medium\"", (await ClaimOneAsync(store))!.Payload);
        Assert.Equal("\"low\"", (await ClaimOneAsync(store))!.Payload);
        Assert.Null(await ClaimOneAsync(store));
    }

    [Fact]
    public async Task Low_is_not_starved_one_claim_in_ten_takes_a_low_job_while_high_ones_wait()
    {
        var store = await OpenAsync();
        for (var i = 0; i < 40; i++)
        {
            await EnqueueAsync(store, "\"h\"", JobLane.High);
        }
        for (var i = 0; i < 5; i++)
        {
            await EnqueueAsync(store, "\"l\"", JobLane.Low);
        }
        // One by one: claims 0..9 of the round, with medium empty, are nine high and one low.
        var single = new List<JobLane>();
        for (var i = 0; i < 20; i++)
        {
            single.Add((await ClaimOneAsync(store))!.Lane);
        }
        Assert.Equal(2, single.Count(l => l == JobLane.Low));
        Assert.Equal(JobLane.Low, single[9]);
        Assert.Equal(JobLane.Low, single[19]);
        // In one batch of ten: the same shares.
        var batch = await store.ClaimAsync("q", 10, Long, CancellationToken.None);
        Assert.Equal(9, batch.Count(j => j.Lane == JobLane.High));
        Assert.Equal(1, batch.Count(j => j.Lane == JobLane.Low));
        Assert.Equal(JobLane.High, batch[0].Lane);
    }

    [Fact]
    public async Task A_delayed_job_is_not_claimed_before_its_time()
    {
        var store = await OpenAsync();
        var enqueued = Stopwatch.StartNew();
        var job = (await EnqueueAsync(store, "{}", delay: TimeSpan.FromSeconds(1.5))).Job;
        await EnqueueAsync(store, "\"now\"");
        Assert.Equal(JobState.Ready, job.State);
        Assert.True(job.RunAt >= job.EnqueuedAt + TimeSpan.FromSeconds(1.5));
        Assert.Equal("\"now\"", (await ClaimOneAsync(store))!.Payload);
        Assert.Null(await ClaimOneAsync(store));
        var claimed = await ClaimEventuallyAsync(store);
        Assert.Equal(job.Id, claimed.Id);
        Assert.True(enqueued.Elapsed >= TimeSpan.FromSeconds(1.4), $"claimed after {enqueued.Elapsed}");
    }

    [Fact]
    public async Task An_idempotency_key_returns_the_existing_job_per_queue()
    {
        var store = await OpenAsync();
        var first = await EnqueueAsync(store, "{\"a\":1}", key: "order-17");
        var again = await EnqueueAsync(store, "{\"a\":2}", key: "order-17");
        var elsewhere = await EnqueueAsync(store, "{\"a\":3}", key: "order-17", queue: "other");
        Assert.True(first.Created);
        Assert.False(again.Created);
        Assert.Equal(first.Job.Id, again.Job.Id);
        Assert.Equal("{\"a\":1}", again.Job.Payload);
        Assert.True(elsewhere.Created);
        Assert.NotEqual(first.Job.Id, elsewhere.Job.Id);
        Assert.Equal(new long[] { 1L, 0, 0, 0 }, await store.CountJobsAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_enqueues_with_one_key_make_one_job()
    {
        var store = await OpenAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => EnqueueAsync(store, $"{i}", key: "k")));
        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Job.Id).Distinct());
    }

    [Fact]
    public async Task A_stale_fencing_token_is_refused_after_the_lease_expired_and_another_worker_took_the_job()
    {
        var store = await OpenAsync();
        var id = (await EnqueueAsync(store, "{}")).Job.Id;
        var first = (await ClaimOneAsync(store, TimeSpan.FromMilliseconds(300)))!;
        Assert.Equal(JobUpdateStatus.Ok, (await store.ExtendAsync(id, first.Token, TimeSpan.FromMilliseconds(300), CancellationToken.None)).Status);
        var second = await ClaimEventuallyAsync(store);
        Assert.Equal(id, second.Id);
        Assert.True(second.Token > first.Token);
        Assert.Equal(2, second.Attempts);
        Assert.Equal("lease expired", second.LastError);

        Assert.Equal(JobUpdateStatus.LeaseLost, await store.CompleteAsync(id, first.Token, CancellationToken.None));
        Assert.Equal(JobUpdateStatus.LeaseLost, (await store.ExtendAsync(id, first.Token, Long, CancellationToken.None)).Status);
        Assert.Equal(JobUpdateStatus.LeaseLost, (await store.FailAsync(id, first.Token, "late", NoJitter, null, false, CancellationToken.None)).Status);
        Assert.Equal(JobState.Leased, (await store.GetJobAsync(id, CancellationToken.None))!.State);

        Assert.Equal(JobUpdateStatus.Ok, await store.CompleteAsync(id, second.Token, CancellationToken.None));
        Assert.Equal(JobUpdateStatus.LeaseLost, await store.CompleteAsync(id, second.Token, CancellationToken.None));
        Assert.Equal(JobUpdateStatus.NotFound, await store.CompleteAsync(id + 1000, 1, CancellationToken.None));
        var done = (await store.GetJobAsync(id, CancellationToken.None))!;
        Assert.Equal(JobState.Done, done.State);
        Assert.NotNull(done.FinishedAt);
        Assert.Null(await ClaimOneAsync(store));
    }

    [Fact]
    public async Task A_failed_job_is_retried_after_its_backoff_and_becomes_a_dead_letter_after_its_last_attempt()
    {
        var store = await OpenAsync();
        var id = (await EnqueueAsync(store, "{}", maxAttempts: 3)).Job.Id;
        var attempt = (await ClaimOneAsync(store))!;
        var failed = await store.FailAsync(id, attempt.Token, "boom 1", NoJitter, null, false, CancellationToken.None);
        Assert.Equal(JobUpdateStatus.Ok, failed.Status);
        Assert.False(failed.Dead);
        var job = (await store.GetJobAsync(id, CancellationToken.None))!;
        Assert.Equal(JobState.Ready, job.State);
        Assert.Equal("boom 1", job.LastError);
        Assert.Equal(failed.RetryAt, job.RunAt);
        Assert.Null(await ClaimOneAsync(store)); // backing off

        attempt = await ClaimEventuallyAsync(store);
        Assert.Equal(2, attempt.Attempts);
        failed = await store.FailAsync(id, attempt.Token, "boom 2", NoJitter, null, false, CancellationToken.None);
        Assert.False(failed.Dead);
        var second = (await store.GetJobAsync(id, CancellationToken.None))!;
        // The second wait is twice the first (600 ms after 300 ms): the run time moved by more than the base.
        Assert.True(second.RunAt - job.RunAt >= TimeSpan.FromMilliseconds(600), $"{job.RunAt:O} -> {second.RunAt:O}");

        attempt = await ClaimEventuallyAsync(store);
        Assert.Equal(3, attempt.Attempts);
        failed = await store.FailAsync(id, attempt.Token, "boom 3", NoJitter, null, false, CancellationToken.None);
        Assert.True(failed.Dead);
        Assert.Null(failed.RetryAt);
        var dead = Assert.Single(await store.ListDeadAsync("q", 0, 10, CancellationToken.None));
        Assert.Equal(id, dead.Id);
        Assert.Equal("boom 3", dead.LastError);
        Assert.Equal(JobState.Dead, dead.State);
        Assert.NotNull(dead.FinishedAt);
        await Task.Delay(400);
        Assert.Null(await ClaimOneAsync(store));
    }

    [Fact]
    public async Task A_final_failure_and_an_explicit_retry_delay_override_the_backoff()
    {
        var store = await OpenAsync();
        var id = (await EnqueueAsync(store, "{}")).Job.Id;
        var attempt = (await ClaimOneAsync(store))!;
        var later = await store.FailAsync(id, attempt.Token, "rate limited upstream", JobBackoff.Default, TimeSpan.FromHours(1), false, CancellationToken.None);
        Assert.True(later.RetryAt > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(50));
        Assert.Empty(await store.ListDeadAsync("q", 0, 10, CancellationToken.None));

        var other = (await EnqueueAsync(store, "{}")).Job.Id;
        attempt = (await ClaimOneAsync(store))!;
        Assert.Equal(other, attempt.Id);
        Assert.True((await store.FailAsync(other, attempt.Token, "bad payload", JobBackoff.Default, null, true, CancellationToken.None)).Dead);
        Assert.Equal(other, Assert.Single(await store.ListDeadAsync("q", 0, 10, CancellationToken.None)).Id);
    }

    [Fact]
    public async Task An_expired_last_lease_makes_a_dead_letter()
    {
        var store = await OpenAsync();
        var id = (await EnqueueAsync(store, "{}", maxAttempts: 1)).Job.Id;
        Assert.NotNull(await ClaimOneAsync(store, TimeSpan.FromMilliseconds(200)));
        await Task.Delay(400);
        Assert.Null(await ClaimOneAsync(store));
        var dead = Assert.Single(await store.ListDeadAsync("q", 0, 10, CancellationToken.None));
        Assert.Equal(id, dead.Id);
        Assert.Equal("lease expired", dead.LastError);
    }

    [Fact]
    public async Task Replaying_dead_letters_makes_them_ready_with_attempts_reset()
    {
        var store = await OpenAsync();
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await EnqueueAsync(store, $"{i}", maxAttempts: 1)).Job.Id);
        }
        foreach (var job in await store.ClaimAsync("q", 3, Long, CancellationToken.None))
        {
            Assert.True((await store.FailAsync(job.Id, job.Token, "x", NoJitter, null, false, CancellationToken.None)).Dead);
        }
        Assert.Equal(ids, (await store.ListDeadAsync("q", 0, 10, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal([ids[2]], (await store.ListDeadAsync("q", ids[1], 10, CancellationToken.None)).Select(j => j.Id));
        Assert.Equal(0, await store.ReplayAsync("other", null, CancellationToken.None));
        Assert.Equal(1, await store.ReplayAsync("q", [ids[1], 12345], CancellationToken.None));
        var replayed = (await ClaimOneAsync(store))!;
        Assert.Equal(ids[1], replayed.Id);
        Assert.Equal(1, replayed.Attempts);
        Assert.Equal(2, replayed.Token);
        Assert.Equal(2, await store.ReplayAsync("q", null, CancellationToken.None));
        Assert.Equal([ids[0], ids[2]], (await store.ClaimAsync("q", 5, Long, CancellationToken.None)).Select(j => j.Id));
        Assert.Empty(await store.ListDeadAsync("q", 0, 10, CancellationToken.None));
        Assert.Equal(new long[] { 0L, 3, 0, 0 }, await store.CountJobsAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_claimers_never_lease_one_job_twice()
    {
        var stores = new List<IJobStore> { await OpenAsync() };
        for (var i = 0; i < ClaimerStores - 1; i++)
        {
            stores.Add(await OpenAsync());
        }
        const int Jobs = 200;
        for (var i = 0; i < Jobs; i++)
        {
            await EnqueueAsync(stores[0], $"{i}", (JobLane)(i % 3));
        }
        var claimed = new ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var store = stores[w % stores.Count];
            while (true)
            {
                var batch = await store.ClaimAsync("q", 1 + w % 4, Long, CancellationToken.None);
                if (batch.Count == 0)
                {
                    return;
                }
                foreach (var job in batch)
                {
                    claimed.Add(job.Id);
                    Assert.Equal(JobUpdateStatus.Ok, await store.CompleteAsync(job.Id, job.Token, CancellationToken.None));
                }
            }
        })));
        Assert.Equal(Jobs, claimed.Count);
        Assert.Equal(Jobs, claimed.Distinct().Count());
        Assert.Equal(new long[] { 0L, 0, Jobs, 0 }, await stores[0].CountJobsAsync("q", CancellationToken.None));
    }

    /// <summary>How many store instances the concurrency test claims through (PostgreSQL: several, like several nodes).</summary>
    protected virtual int ClaimerStores => 1;

    [Fact]
    public async Task Jobs_enqueued_in_a_log_write_transaction_commit_with_it_or_not_at_all()
    {
        var store = await OpenAsync();
        var log = (IChangeStore)store;
        NewJob Job(string key) => new() { Queue = "tx", Payload = $"\"{key}\"", IdempotencyKey = key, Lane = JobLane.High };
        await using (var rolledBack = await log.BeginWriteAsync(CancellationToken.None))
        {
            await rolledBack.Jobs!.EnqueueJobsAsync([Job("a")], CancellationToken.None);
        }
        Assert.Equal(new long[] { 0, 0, 0, 0 }, await store.CountJobsAsync("tx", CancellationToken.None));
        await using (var writer = await log.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([new Change
            {
                Seq = writer.Head + 1, Collection = "orders", Id = "o1", Version = 1, Created = true, DocumentJson = "{}", SetJson = "{}",
                Hlc = new HlcTimestamp(1_700_000_000_000, 0), PreviousSeq = 0,
            }], [], CancellationToken.None);
            await writer.Jobs!.EnqueueJobsAsync([Job("a"), Job("a"), Job("b")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await EnqueueAsync(store, "\"dup\"", queue: "tx", key: "b");
        Assert.Equal(new long[] { 2, 0, 0, 0 }, await store.CountJobsAsync("tx", CancellationToken.None));
        var claimed = await store.ClaimAsync("tx", 5, Long, CancellationToken.None);
        Assert.Equal(["\"a\"", "\"b\""], claimed.Select(j => j.Payload));
        Assert.All(claimed, j => Assert.Equal(JobLane.High, j.Lane));
    }

    [Fact]
    public async Task Purging_done_jobs_frees_their_idempotency_keys()
    {
        var store = await OpenAsync();
        var first = (await EnqueueAsync(store, "{}", key: "k")).Job;
        await EnqueueAsync(store, "{}");
        var job = (await ClaimOneAsync(store))!;
        Assert.Equal(JobUpdateStatus.Ok, await store.CompleteAsync(job.Id, job.Token, CancellationToken.None));
        Assert.Equal(0, await store.PurgeDoneAsync(TimeSpan.FromHours(1), CancellationToken.None));
        Assert.False((await EnqueueAsync(store, "{}", key: "k")).Created);
        await Task.Delay(50);
        Assert.Equal(1, await store.PurgeDoneAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Null(await store.GetJobAsync(first.Id, CancellationToken.None));
        var again = await EnqueueAsync(store, "{}", key: "k");
        Assert.True(again.Created);
        Assert.True(again.Job.Id > first.Id + 1, "ids are never reused");
    }
}
