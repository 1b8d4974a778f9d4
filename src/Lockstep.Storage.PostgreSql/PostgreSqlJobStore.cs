using System.Collections.Concurrent;
using System.Data;
using Lockstep.Core.Jobs;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// The job queues in PostgreSQL (table <c>jobs</c>, docs/dev/storage-format.md), shared by every node.
/// A claim runs in one <c>READ COMMITTED</c> transaction whose statements pick rows with
/// <c>FOR UPDATE SKIP LOCKED</c>: claimers on any node skip each other's rows instead of waiting for
/// them, and a row another claimer leased and committed meanwhile fails the re-checked
/// <c>state = 0</c>, so no job is leased twice. Updates under a lease match on (id, state, token).
/// Every time is the database's <c>now()</c> (the transaction's start), never a node's clock. The change
/// store composes it over the database it owns.
/// </summary>
internal sealed class PostgreSqlJobStore(PostgreSqlDatabase database) : ISharedJobStore
{
    private const string JobColumns =
        "id, queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, lease_expires_at, last_error, enqueued_at, finished_at";

    /// <summary>Claims made per queue on this node: the position in <see cref="JobLaneSchedule"/>'s round.</summary>
    private readonly ConcurrentDictionary<string, long> _claims = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public async ValueTask<EnqueueResult> EnqueueAsync(NewJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        // A race with a purge of the key's job can find neither row; a second round settles it.
        for (var round = 0; ; round++)
        {
            await using (var insert = new NpgsqlCommand($"""
                INSERT INTO jobs (queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, enqueued_at)
                VALUES ($1, $2, 0, $3, $4, now() + $5 * interval '1 millisecond', 0, $6, 0, now())
                ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING {JobColumns}
                """, connection))
            {
                Add(insert, job.Queue, (short)job.Lane, job.Payload, (object?)job.IdempotencyKey ?? DBNull.Value, job.Delay.TotalMilliseconds, job.MaxAttempts);
                if (await ReadJobsAsync(insert, cancellationToken) is [var created])
                {
                    await NotifyQueueAsync(connection, job.Queue, cancellationToken);
                    return new EnqueueResult(created, Created: true);
                }
            }
            // The key is taken (a concurrent insert with it has committed: ON CONFLICT waited for it).
            await using var find = new NpgsqlCommand($"SELECT {JobColumns} FROM jobs WHERE queue = $1 AND idempotency_key = $2", connection);
            Add(find, job.Queue, job.IdempotencyKey!);
            if (await ReadJobsAsync(find, cancellationToken) is [var existing])
            {
                return new EnqueueResult(existing, Created: false);
            }
            if (round == 2)
            {
                throw new InvalidOperationException($"Enqueuing with idempotency key '{job.IdempotencyKey}' conflicted without a job to return.");
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<JobRecord>> ClaimAsync(string queue, int maxCount, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        // Expired leases first: back to ready, or to the dead letters when that was the last attempt.
        // SKIP LOCKED: a row a worker is completing right now is that worker's to decide.
        await using (var expire = new NpgsqlCommand("""
            UPDATE jobs SET
                state = CASE WHEN attempts >= max_attempts THEN 3 ELSE 0 END,
                finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                last_error = 'lease expired', lease_expires_at = NULL
            WHERE id IN (SELECT id FROM jobs WHERE queue = $1 AND state = 1 AND lease_expires_at <= now() FOR UPDATE SKIP LOCKED)
            """, connection, transaction))
        {
            Add(expire, queue);
            await expire.ExecuteNonQueryAsync(cancellationToken);
        }
        var claimed = new List<JobRecord>(maxCount);
        var plan = JobLaneSchedule.Plan(_claims.GetValueOrDefault(queue), maxCount);
        for (var lane = 0; lane < 3; lane++)
        {
            if (plan[lane] > 0)
            {
                claimed.AddRange(await TakeLaneAsync(connection, transaction, queue, lane, plan[lane], leaseDuration, cancellationToken));
            }
        }
        // Slots whose preferred lane had no due job go to the others, high first. Rows this
        // transaction leased already read state = 1 here, so they are not taken twice.
        for (var lane = 0; lane < 3 && claimed.Count < maxCount; lane++)
        {
            claimed.AddRange(await TakeLaneAsync(connection, transaction, queue, lane, maxCount - claimed.Count, leaseDuration, cancellationToken));
        }
        await transaction.CommitAsync(cancellationToken);
        _claims.AddOrUpdate(queue, claimed.Count, (_, n) => n + claimed.Count);
        claimed.Sort(static (a, b) => a.Lane != b.Lane ? a.Lane.CompareTo(b.Lane) : a.Id.CompareTo(b.Id));
        return claimed;
    }

    private static async Task<List<JobRecord>> TakeLaneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string queue, int lane, int count,
        TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        await using var take = new NpgsqlCommand($"""
            UPDATE jobs SET state = 1, attempts = attempts + 1, token = token + 1, lease_expires_at = now() + $4 * interval '1 millisecond'
            WHERE id IN (
                SELECT id FROM jobs WHERE queue = $1 AND lane = $2 AND state = 0 AND run_at <= now()
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING {JobColumns}
            """, connection, transaction);
        Add(take, queue, (short)lane, count, leaseDuration.TotalMilliseconds);
        return await ReadJobsAsync(take, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<JobUpdateStatus> CompleteAsync(long id, long token, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var done = new NpgsqlCommand(
            "UPDATE jobs SET state = 2, finished_at = now(), lease_expires_at = NULL WHERE id = $1 AND state = 1 AND token = $2", connection);
        Add(done, id, token);
        return await done.ExecuteNonQueryAsync(cancellationToken) == 1 ? JobUpdateStatus.Ok : await MissingAsync(connection, null, id, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<JobFailResult> FailAsync(long id, long token, string lastError, JobBackoff backoff, TimeSpan? retryDelay, bool final,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lastError);
        ArgumentNullException.ThrowIfNull(backoff);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        int attempts;
        int max;
        await using (var read = new NpgsqlCommand("SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND state = 1 AND token = $2 FOR UPDATE", connection, transaction))
        {
            Add(read, id, token);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                await reader.DisposeAsync();
                return new JobFailResult(await MissingAsync(connection, transaction, id, cancellationToken), false, null);
            }
            attempts = reader.GetInt32(0);
            max = reader.GetInt32(1);
        }
        var dead = final || attempts >= max;
        await using var update = new NpgsqlCommand(dead
            ? "UPDATE jobs SET state = 3, finished_at = now(), last_error = $2, lease_expires_at = NULL WHERE id = $1 RETURNING NULL::timestamptz"
            : "UPDATE jobs SET state = 0, run_at = now() + $3 * interval '1 millisecond', last_error = $2, lease_expires_at = NULL WHERE id = $1 RETURNING run_at",
            connection, transaction);
        Add(update, id, lastError, (retryDelay ?? backoff.DelayAfter(attempts)).TotalMilliseconds);
        var runAt = await update.ExecuteScalarAsync(cancellationToken) as DateTime?;
        await transaction.CommitAsync(cancellationToken);
        return new JobFailResult(JobUpdateStatus.Ok, dead, runAt is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : null);
    }

    /// <inheritdoc />
    public async ValueTask<JobExtendResult> ExtendAsync(long id, long token, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var extend = new NpgsqlCommand(
            "UPDATE jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' WHERE id = $1 AND state = 1 AND token = $2 RETURNING lease_expires_at", connection);
        Add(extend, id, token, leaseDuration.TotalMilliseconds);
        return await extend.ExecuteScalarAsync(cancellationToken) is DateTime expires
            ? new JobExtendResult(JobUpdateStatus.Ok, new DateTimeOffset(expires, TimeSpan.Zero))
            : new JobExtendResult(await MissingAsync(connection, null, id, cancellationToken), null);
    }

    /// <inheritdoc />
    public async ValueTask<JobRecord?> GetJobAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var get = new NpgsqlCommand($"SELECT {JobColumns} FROM jobs WHERE id = $1", connection);
        Add(get, id);
        return await ReadJobsAsync(get, cancellationToken) is [var job] ? job : null;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<JobRecord>> ListDeadAsync(string queue, long afterId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var list = new NpgsqlCommand($"SELECT {JobColumns} FROM jobs WHERE queue = $1 AND state = 3 AND id > $2 ORDER BY id LIMIT $3", connection);
        Add(list, queue, afterId, limit);
        return await ReadJobsAsync(list, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<int> ReplayAsync(string queue, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var replay = new NpgsqlCommand("""
            UPDATE jobs SET state = 0, attempts = 0, run_at = now(), finished_at = NULL
            WHERE queue = $1 AND state = 3 AND ($2 OR id = ANY($3))
            """, connection);
        Add(replay, queue, ids is null, (ids ?? []).ToArray());
        var replayed = await replay.ExecuteNonQueryAsync(cancellationToken);
        if (replayed > 0)
        {
            await NotifyQueueAsync(connection, queue, cancellationToken);
        }
        return replayed;
    }

    /// <inheritdoc />
    public async ValueTask<long[]> CountJobsAsync(string queue, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var count = new NpgsqlCommand("SELECT state, count(*) FROM jobs WHERE queue = $1 GROUP BY state", connection);
        Add(count, queue);
        var counts = new long[4];
        await using var reader = await count.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetInt16(0)] = reader.GetInt64(1);
        }
        return counts;
    }

    /// <inheritdoc />
    public async ValueTask<long> PurgeDoneAsync(TimeSpan olderThan, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var purge = new NpgsqlCommand("DELETE FROM jobs WHERE state = 2 AND finished_at <= now() - $1 * interval '1 millisecond'", connection);
        Add(purge, olderThan.TotalMilliseconds);
        return await purge.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<string> WatchQueuesAsync(CancellationToken cancellationToken) => database.ListenAsync(Schema.JobsNotifyChannel, cancellationToken);

    /// <summary>
    /// Adds a batch's enqueues (from mutators) to the batch of its write transaction: each job unless its
    /// idempotency key is taken, then one notification per queue, delivered to every node's waiting
    /// claims when (and only if) the transaction commits.
    /// </summary>
    public static void AddToBatch(NpgsqlBatch batch, IReadOnlyList<NewJob> jobs)
    {
        foreach (var job in jobs)
        {
            batch.BatchCommands.Add(PostgreSqlDatabase.Command("""
                INSERT INTO jobs (queue, lane, state, payload, idempotency_key, run_at, attempts, max_attempts, token, enqueued_at)
                VALUES ($1, $2, 0, $3, $4, now() + $5 * interval '1 millisecond', 0, $6, 0, now())
                ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                """, job.Queue, (short)job.Lane, job.Payload, (object?)job.IdempotencyKey ?? DBNull.Value, job.Delay.TotalMilliseconds, job.MaxAttempts));
        }
        foreach (var queue in jobs.Select(j => j.Queue).Distinct(StringComparer.Ordinal))
        {
            batch.BatchCommands.Add(PostgreSqlDatabase.Command("SELECT pg_notify($1, $2)", Schema.JobsNotifyChannel, queue));
        }
    }

    /// <summary>Tells every node's waiting claims that the queue has a claimable job (after the commit: autocommit statements).</summary>
    private static async Task NotifyQueueAsync(NpgsqlConnection connection, string queue, CancellationToken cancellationToken)
    {
        await using var notify = new NpgsqlCommand("SELECT pg_notify($1, $2)", connection);
        Add(notify, Schema.JobsNotifyChannel, queue);
        await notify.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Why an update under a lease matched nothing: the job is gone, or the lease is not its newest.</summary>
    private static async Task<JobUpdateStatus> MissingAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, long id, CancellationToken cancellationToken)
    {
        await using var exists = new NpgsqlCommand("SELECT 1 FROM jobs WHERE id = $1", connection, transaction);
        Add(exists, id);
        return await exists.ExecuteScalarAsync(cancellationToken) is null ? JobUpdateStatus.NotFound : JobUpdateStatus.LeaseLost;
    }

    private static void Add(NpgsqlCommand command, params object[] values)
    {
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
    }

    private static async Task<List<JobRecord>> ReadJobsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var jobs = new List<JobRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(new JobRecord
            {
                Id = reader.GetInt64(0),
                Queue = reader.GetString(1),
                Lane = (JobLane)reader.GetInt16(2),
                State = (JobState)reader.GetInt16(3),
                Payload = reader.GetString(4),
                IdempotencyKey = reader.IsDBNull(5) ? null : reader.GetString(5),
                RunAt = reader.GetFieldValue<DateTimeOffset>(6),
                Attempts = reader.GetInt32(7),
                MaxAttempts = reader.GetInt32(8),
                Token = reader.GetInt64(9),
                LeaseExpiresAt = reader.IsDBNull(10) ? null : reader.GetFieldValue<DateTimeOffset>(10),
                LastError = reader.IsDBNull(11) ? null : reader.GetString(11),
                EnqueuedAt = reader.GetFieldValue<DateTimeOffset>(12),
                FinishedAt = reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
            });
        }
        return jobs;
    }
}
