using System.Globalization;
using Lockstep.Core.Jobs;
using Lockstep.Storage.PostgreSql;
using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>The job-store contract on PostgreSQL (claims through several store instances, like several nodes), and the job format.</summary>
public sealed class PostgreSqlJobStoreTests : JobStoreContract
{
    private PostgreSqlTestDatabase? _database;

    private PostgreSqlTestDatabase Database => _database ?? throw new InvalidOperationException("InitializeAsync has not run.");

    protected override IChangeStore CreateStore() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = Database.ConnectionString });

    protected override int ClaimerStores => 4;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _database = await PostgreSqlTestDatabase.CreateAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    /// <summary>Freezes the persisted form of a job (docs/dev/storage-format.md); times are the database's, so they are checked by difference.</summary>
    [Fact]
    public async Task The_persisted_row_of_a_job_matches_the_documented_format()
    {
        var store = await OpenAsync();
        await store.EnqueueAsync(new NewJob { Queue = "emails", Payload = "{\"to\":\"ana@example.com\"}", Lane = JobLane.High, IdempotencyKey = "welcome-ana",
            MaxAttempts = 3 }, CancellationToken.None);
        var job = (await store.ClaimAsync("emails", 1, TimeSpan.FromSeconds(30), CancellationToken.None))[0];
        await store.FailAsync(job.Id, job.Token, "smtp: 451", new JobBackoff(TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1), 0), null, false, CancellationToken.None);
        await using var connection = await Database.OpenUnpooledAsync();
        await using var command = new Npgsql.NpgsqlCommand("""
            SELECT id, queue, lane, state, payload, idempotency_key, attempts, max_attempts, token, lease_expires_at, last_error, finished_at,
                   run_at - now() > interval '1 second' AND run_at - now() <= interval '2 seconds', enqueued_at <= now()
            FROM jobs
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var row = string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)));
        Assert.Equal("1|emails|0|0|{\"to\":\"ana@example.com\"}|welcome-ana|1|3|1||smtp: 451||True|True", row);
    }

    [Fact]
    public async Task Enqueues_and_replays_on_one_store_are_announced_to_the_others()
    {
        var watcher = (ISharedJobStore)await OpenAsync();
        var writer = await OpenAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var listening = Task.Run(async () =>
        {
            await foreach (var queue in watcher.WatchQueuesAsync(stop.Token))
            {
                seen.Enqueue(queue);
                if (seen.Count(q => q == "second") == 2)
                {
                    return;
                }
            }
        });
        // LISTEN takes effect once the watcher's command ran: enqueue until the first job is heard.
        while (seen.IsEmpty && !listening.IsCompleted)
        {
            await EnqueueAsync(writer, "{}", queue: "first");
            await Task.Delay(100);
        }
        var job = (await EnqueueAsync(writer, "{}", queue: "second", maxAttempts: 1)).Job;
        var claimed = (await ClaimOneAsync(writer, queue: "second"))!;
        await writer.FailAsync(job.Id, claimed.Token, "x", JobBackoff.Default, null, false, CancellationToken.None);
        Assert.Equal(1, await writer.ReplayAsync("second", null, CancellationToken.None));
        await listening.WaitAsync(TimeSpan.FromSeconds(30));
        // The warm-up enqueues, then the enqueue and the replay of the second queue, in order.
        Assert.Equal(["second", "second"], seen.SkipWhile(q => q == "first"));
    }

    [Fact]
    public async Task A_version_2_database_is_migrated_to_version_3_on_open()
    {
        var store = await OpenAsync();
        await ((IChangeStore)store).DisposeAsync();
        await Database.ScalarAsync("DROP TABLE jobs");
        await Database.ScalarAsync("UPDATE schema_version SET version = 2");
        var reopened = await OpenAsync();
        Assert.True((await EnqueueAsync(reopened, "{}")).Created);
        Assert.Equal(3, await Database.ScalarAsync("SELECT version FROM schema_version"));
    }
}
