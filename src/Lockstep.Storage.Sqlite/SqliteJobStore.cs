using System.Collections.Concurrent;
using Lockstep.Core.Jobs;
using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>
/// The job queues on the SQLite file (table <c>jobs</c>, docs/dev/storage-format.md). Every update
/// runs on the writer connection, between group-commit batches, in a <c>BEGIN IMMEDIATE</c>
/// transaction: one node, one writer, so claims can never overlap. Times come from
/// <see cref="SqliteStoreOptions.TimeProvider"/>, stored as Unix milliseconds. The change store composes it
/// over the writer connection it owns.
/// </summary>
internal sealed class SqliteJobStore(SqliteWriteConnection writer, TimeProvider time) : IJobStore
{
    private const string JobColumns =
        "id, queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, lease_expires_at, last_error, enqueued_at, finished_at";

    /// <summary>Claims made per queue: the position in <see cref="JobLaneSchedule"/>'s round.</summary>
    private readonly ConcurrentDictionary<string, long> _claims = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ValueTask<EnqueueResult> EnqueueAsync(NewJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        return InJobTransactionAsync((connection, tx, now) =>
        {
            if (job.IdempotencyKey is not null)
            {
                using var find = Command(connection, tx, $"SELECT {JobColumns} FROM jobs WHERE queue = $q AND idempotency_key = $k");
                find.Parameters.AddWithValue("$q", job.Queue);
                find.Parameters.AddWithValue("$k", job.IdempotencyKey);
                if (ReadJobs(find) is [var existing])
                {
                    return new EnqueueResult(existing, Created: false);
                }
            }
            using var insert = Command(connection, tx, $"""
                INSERT INTO jobs (queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, enqueued_at)
                VALUES ($q, $lane, 0, $payload, $k, $runAt, 0, $max, 0, $now)
                RETURNING {JobColumns}
                """);
            insert.Parameters.AddWithValue("$q", job.Queue);
            insert.Parameters.AddWithValue("$lane", (int)job.Lane);
            insert.Parameters.AddWithValue("$payload", job.Payload);
            insert.Parameters.AddWithValue("$k", (object?)job.IdempotencyKey ?? DBNull.Value);
            insert.Parameters.AddWithValue("$runAt", now + (long)job.Delay.TotalMilliseconds);
            insert.Parameters.AddWithValue("$max", job.MaxAttempts);
            insert.Parameters.AddWithValue("$now", now);
            return new EnqueueResult(ReadJobs(insert)[0], Created: true);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<JobRecord>> ClaimAsync(string queue, int maxCount, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        return InJobTransactionAsync<IReadOnlyList<JobRecord>>((connection, tx, now) =>
        {
            // Expired leases first: back to ready, or to the dead letters when that was the last attempt.
            using (var expire = Command(connection, tx, """
                UPDATE jobs SET
                    state = CASE WHEN attempts >= max_attempts THEN 3 ELSE 0 END,
                    finished_at = CASE WHEN attempts >= max_attempts THEN $now END,
                    last_error = 'lease expired', lease_expires_at = NULL
                WHERE queue = $q AND state = 1 AND lease_expires_at <= $now
                """))
            {
                expire.Parameters.AddWithValue("$q", queue);
                expire.Parameters.AddWithValue("$now", now);
                expire.ExecuteNonQuery();
            }
            var claimed = new List<JobRecord>(maxCount);
            var plan = JobLaneSchedule.Plan(_claims.GetValueOrDefault(queue), maxCount);
            for (var lane = 0; lane < 3; lane++)
            {
                if (plan[lane] > 0)
                {
                    claimed.AddRange(TakeLane(connection, tx, queue, lane, plan[lane], now, leaseDuration));
                }
            }
            // Slots whose preferred lane had no due job go to the others, high first.
            for (var lane = 0; lane < 3 && claimed.Count < maxCount; lane++)
            {
                claimed.AddRange(TakeLane(connection, tx, queue, lane, maxCount - claimed.Count, now, leaseDuration));
            }
            _claims.AddOrUpdate(queue, claimed.Count, (_, n) => n + claimed.Count);
            claimed.Sort(static (a, b) => a.Lane != b.Lane ? a.Lane.CompareTo(b.Lane) : a.Id.CompareTo(b.Id));
            return claimed;
        }, cancellationToken);
    }

    private static List<JobRecord> TakeLane(SqliteConnection connection, SqliteTransaction tx, string queue, int lane, int count, long now, TimeSpan leaseDuration)
    {
        using var take = Command(connection, tx, $"""
            UPDATE jobs SET state = 1, attempts = attempts + 1, token = token + 1, lease_expires_at = $expires
            WHERE id IN (SELECT id FROM jobs WHERE queue = $q AND lane = $lane AND state = 0 AND run_at <= $now ORDER BY id LIMIT $n)
            RETURNING {JobColumns}
            """);
        take.Parameters.AddWithValue("$q", queue);
        take.Parameters.AddWithValue("$lane", lane);
        take.Parameters.AddWithValue("$now", now);
        take.Parameters.AddWithValue("$n", count);
        take.Parameters.AddWithValue("$expires", now + (long)leaseDuration.TotalMilliseconds);
        return ReadJobs(take);
    }

    /// <inheritdoc />
    public ValueTask<JobUpdateStatus> CompleteAsync(long id, long token, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, now) =>
        {
            using var done = Command(connection, tx,
                "UPDATE jobs SET state = 2, finished_at = $now, lease_expires_at = NULL WHERE id = $id AND state = 1 AND token = $token");
            done.Parameters.AddWithValue("$id", id);
            done.Parameters.AddWithValue("$token", token);
            done.Parameters.AddWithValue("$now", now);
            return done.ExecuteNonQuery() == 1 ? JobUpdateStatus.Ok : Missing(connection, tx, id);
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobFailResult> FailAsync(long id, long token, string lastError, JobBackoff backoff, TimeSpan? retryDelay, bool final, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lastError);
        ArgumentNullException.ThrowIfNull(backoff);
        return InJobTransactionAsync((connection, tx, now) =>
        {
            using var read = Command(connection, tx, "SELECT attempts, max_attempts FROM jobs WHERE id = $id AND state = 1 AND token = $token");
            read.Parameters.AddWithValue("$id", id);
            read.Parameters.AddWithValue("$token", token);
            int attempts;
            int max;
            using (var reader = read.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return new JobFailResult(Missing(connection, tx, id), false, null);
                }
                attempts = reader.GetInt32(0);
                max = reader.GetInt32(1);
            }
            var dead = final || attempts >= max;
            var runAt = now + (long)(retryDelay ?? backoff.DelayAfter(attempts)).TotalMilliseconds;
            using var update = Command(connection, tx, dead
                ? "UPDATE jobs SET state = 3, finished_at = $now, last_error = $error, lease_expires_at = NULL WHERE id = $id"
                : "UPDATE jobs SET state = 0, run_at = $runAt, last_error = $error, lease_expires_at = NULL WHERE id = $id");
            update.Parameters.AddWithValue("$id", id);
            update.Parameters.AddWithValue("$now", now);
            update.Parameters.AddWithValue("$runAt", runAt);
            update.Parameters.AddWithValue("$error", lastError);
            update.ExecuteNonQuery();
            return new JobFailResult(JobUpdateStatus.Ok, dead, dead ? null : DateTimeOffset.FromUnixTimeMilliseconds(runAt));
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<JobExtendResult> ExtendAsync(long id, long token, TimeSpan leaseDuration, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, now) =>
        {
            var expires = now + (long)leaseDuration.TotalMilliseconds;
            using var extend = Command(connection, tx, "UPDATE jobs SET lease_expires_at = $expires WHERE id = $id AND state = 1 AND token = $token");
            extend.Parameters.AddWithValue("$id", id);
            extend.Parameters.AddWithValue("$token", token);
            extend.Parameters.AddWithValue("$expires", expires);
            return extend.ExecuteNonQuery() == 1
                ? new JobExtendResult(JobUpdateStatus.Ok, DateTimeOffset.FromUnixTimeMilliseconds(expires))
                : new JobExtendResult(Missing(connection, tx, id), null);
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, _) =>
        {
            using var get = Command(connection, tx, $"SELECT {JobColumns} FROM jobs WHERE id = $id");
            get.Parameters.AddWithValue("$id", id);
            return ReadJobs(get) is [var job] ? job : null;
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<JobRecord>> ListDeadAsync(string queue, long afterId, int limit, CancellationToken cancellationToken) =>
        InJobTransactionAsync<IReadOnlyList<JobRecord>>((connection, tx, _) =>
        {
            using var list = Command(connection, tx, $"SELECT {JobColumns} FROM jobs WHERE queue = $q AND state = 3 AND id > $after ORDER BY id LIMIT $n");
            list.Parameters.AddWithValue("$q", queue);
            list.Parameters.AddWithValue("$after", afterId);
            list.Parameters.AddWithValue("$n", limit);
            return ReadJobs(list);
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, now) =>
        {
            using var replay = Command(connection, tx, """
                UPDATE jobs SET state = 0, attempts = 0, run_at = $now, finished_at = NULL
                WHERE queue = $q AND state = 3 AND ($all OR id IN (SELECT value FROM json_each($ids)))
                """);
            replay.Parameters.AddWithValue("$q", queue);
            replay.Parameters.AddWithValue("$now", now);
            replay.Parameters.AddWithValue("$all", ids is null);
            replay.Parameters.AddWithValue("$ids", "[" + string.Join(',', ids ?? []) + "]");
            return replay.ExecuteNonQuery();
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long[]> CountJobsAsync(string queue, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, _) =>
        {
            using var count = Command(connection, tx, "SELECT state, count(*) FROM jobs WHERE queue = $q GROUP BY state");
            count.Parameters.AddWithValue("$q", queue);
            var counts = new long[4];
            using var reader = count.ExecuteReader();
            while (reader.Read())
            {
                counts[reader.GetInt32(0)] = reader.GetInt64(1);
            }
            return counts;
        }, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> PurgeDoneAsync(TimeSpan olderThan, CancellationToken cancellationToken) =>
        InJobTransactionAsync((connection, tx, now) =>
        {
            using var purge = Command(connection, tx, "DELETE FROM jobs WHERE state = 2 AND finished_at <= $before");
            purge.Parameters.AddWithValue("$before", now - (long)olderThan.TotalMilliseconds);
            return (long)purge.ExecuteNonQuery();
        }, cancellationToken);

    /// <summary>Inserts jobs in a batch's write transaction, each unless its idempotency key is taken (a batch's enqueues from mutators).</summary>
    public void InsertInBatch(SqliteConnection connection, SqliteTransaction tx, IReadOnlyList<NewJob> jobs)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var job in jobs)
        {
            InsertJob(connection, tx, job, now);
        }
    }

    private static void InsertJob(SqliteConnection connection, SqliteTransaction tx, NewJob job, long now)
    {
        using var insert = Command(connection, tx, """
            INSERT OR IGNORE INTO jobs (queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, enqueued_at)
            VALUES ($q, $lane, 0, $payload, $k, $runAt, 0, $max, 0, $now)
            """);
        insert.Parameters.AddWithValue("$q", job.Queue);
        insert.Parameters.AddWithValue("$lane", (int)job.Lane);
        insert.Parameters.AddWithValue("$payload", job.Payload);
        insert.Parameters.AddWithValue("$k", (object?)job.IdempotencyKey ?? DBNull.Value);
        insert.Parameters.AddWithValue("$runAt", now + (long)job.Delay.TotalMilliseconds);
        insert.Parameters.AddWithValue("$max", job.MaxAttempts);
        insert.Parameters.AddWithValue("$now", now);
        insert.ExecuteNonQuery();
    }

    /// <summary>Runs one job operation in a write transaction on the writer connection, between batches.</summary>
    private ValueTask<T> InJobTransactionAsync<T>(Func<SqliteConnection, SqliteTransaction, long, T> work, CancellationToken cancellationToken) =>
        writer.InTransactionAsync((connection, tx) => work(connection, tx, time.GetUtcNow().ToUnixTimeMilliseconds()), cancellationToken);

    /// <summary>Why an update under a lease matched nothing: the job is gone, or the lease is not its newest.</summary>
    private static JobUpdateStatus Missing(SqliteConnection connection, SqliteTransaction tx, long id)
    {
        using var exists = Command(connection, tx, "SELECT 1 FROM jobs WHERE id = $id");
        exists.Parameters.AddWithValue("$id", id);
        return exists.ExecuteScalar() is null ? JobUpdateStatus.NotFound : JobUpdateStatus.LeaseLost;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction tx, string sql) =>
        SqliteWriteConnection.Command(connection, tx, sql);

    private static List<JobRecord> ReadJobs(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var jobs = new List<JobRecord>();
        while (reader.Read())
        {
            jobs.Add(new JobRecord
            {
                Id = reader.GetInt64(0),
                Queue = reader.GetString(1),
                Lane = (JobLane)reader.GetInt32(2),
                State = (JobState)reader.GetInt32(3),
                Payload = reader.GetString(4),
                IdempotencyKey = reader.IsDBNull(5) ? null : reader.GetString(5),
                RunAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                Attempts = reader.GetInt32(7),
                MaxAttempts = reader.GetInt32(8),
                Token = reader.GetInt64(9),
                LeaseExpiresAt = reader.IsDBNull(10) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)),
                LastError = reader.IsDBNull(11) ? null : reader.GetString(11),
                EnqueuedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(12)),
                FinishedAt = reader.IsDBNull(13) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(13)),
            });
        }
        return jobs;
    }
}
