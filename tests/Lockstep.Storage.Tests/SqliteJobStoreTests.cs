using Lockstep.Core.Jobs;
using Lockstep.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>The job-store contract on a SQLite file, and the file's job format.</summary>
public sealed class SqliteJobStoreTests : JobStoreContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lockstep-jobs-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, "lockstep.db");

    protected override IChangeStore CreateStore() => new SqliteChangeStore(new SqliteStoreOptions { Path = DbPath });

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Freezes the persisted form of a job (docs/dev/storage-format.md).</summary>
    [Fact]
    public async Task The_persisted_row_of_a_job_matches_the_documented_format()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeMilliseconds(1732345678901));
        await using var store = new SqliteChangeStore(new SqliteStoreOptions { Path = DbPath, TimeProvider = time });
        await store.OpenAsync(CancellationToken.None);
        await store.EnqueueAsync(new NewJob { Queue = "emails", Payload = "{\"to\":\"ana@example.com\"}", Lane = JobLane.High, IdempotencyKey = "welcome-ana",
            Delay = TimeSpan.FromSeconds(10), MaxAttempts = 3 }, CancellationToken.None);
        time.Now += TimeSpan.FromSeconds(10);
        var job = (await store.ClaimAsync("emails", 1, TimeSpan.FromSeconds(30), CancellationToken.None))[0];
        await store.FailAsync(job.Id, job.Token, "smtp: 451", new JobBackoff(TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1), 0), null, false, CancellationToken.None);
        await using var connection = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, lease_expires_at, last_error, enqueued_at, finished_at FROM jobs";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var row = string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal("1|emails|0|0|{\"to\":\"ana@example.com\"}|welcome-ana|1732345690901|1|3|1||smtp: 451|1732345678901|", row);
    }

    [Fact]
    public async Task A_version_1_file_is_migrated_to_version_2_on_open()
    {
        var store = await OpenAsync();
        await ((IChangeStore)store).DisposeAsync();
        await using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE jobs; UPDATE meta SET value = 1 WHERE key = 'schema_version'";
            await command.ExecuteNonQueryAsync();
        }
        SqliteConnection.ClearAllPools();
        var reopened = await OpenAsync();
        Assert.True((await EnqueueAsync(reopened, "{}")).Created);
        await using var check = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly");
        await check.OpenAsync();
        await using var version = check.CreateCommand();
        version.CommandText = "SELECT value FROM meta WHERE key = 'schema_version'";
        Assert.Equal(2L, await version.ExecuteScalarAsync());
    }

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
