using System.Globalization;
using System.Runtime.CompilerServices;
using Lockstep.Core;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// What several nodes sharing one database need of it besides the log: commit notifications, the node
/// registry (table <c>nodes</c>) and leases with fencing tokens (table <c>leases</c>, session advisory
/// locks). The change store composes it over the database it owns; the <see cref="Core.ISharedChangeStore"/>
/// members hand over to it.
/// </summary>
internal sealed class PostgreSqlClusterStore(PostgreSqlDatabase database)
{
    /// <summary>Listens on the log's channel; every committed append notifies it with the new head.</summary>
    public async IAsyncEnumerable<long> WatchHeadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var payload in database.ListenAsync(Schema.NotifyChannel, cancellationToken))
        {
            if (long.TryParse(payload, NumberStyles.None, CultureInfo.InvariantCulture, out var head))
            {
                yield return head;
            }
        }
    }

    /// <summary>Records that <paramref name="node"/> is alive now (creating its row on first use); forgets nodes silent for an hour.</summary>
    public async ValueTask HeartbeatAsync(ClusterNode node, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(PostgreSqlDatabase.Command("""
            INSERT INTO nodes (id, url, started_at, heartbeat_at, head) VALUES ($1, $2, $3, now(), $4)
            ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = now(), head = excluded.head
            """, node.Id, (object?)node.Url ?? DBNull.Value, node.StartedAt, node.Head));
        // Nodes that died an hour ago are forgotten, so the registry does not grow with every restart.
        batch.BatchCommands.Add(PostgreSqlDatabase.Command("DELETE FROM nodes WHERE heartbeat_at < now() - interval '1 hour'"));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Removes a node's row (a clean shutdown).</summary>
    public async ValueTask LeaveAsync(string nodeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("DELETE FROM nodes WHERE id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = nodeId });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The nodes, with <see cref="ClusterNode.LastHeartbeat"/> translated from the database's clock to this machine's (by the heartbeat's age).</summary>
    public async ValueTask<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT id, url, started_at, extract(epoch FROM now() - heartbeat_at)::float8, head FROM nodes ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var nodes = new List<ClusterNode>();
        while (await reader.ReadAsync(cancellationToken))
        {
            nodes.Add(new ClusterNode(
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                now - TimeSpan.FromSeconds(reader.GetDouble(3)),
                reader.GetInt64(4)));
        }
        return nodes;
    }

    /// <summary>
    /// Takes the lease's session advisory lock on a connection of its own; when granted, bumps the
    /// lease's fencing token in the <c>leases</c> row. The lock is held as long as that connection
    /// lives: when the holder dies, PostgreSQL ends its session and the lock is free for another.
    /// </summary>
    public async ValueTask<IStoreLease?> TryAcquireLeaseAsync(string name, string holder, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(holder);
        var connection = database.DedicatedConnection();
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using (var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection))
            {
                tryLock.Parameters.Add(new NpgsqlParameter { Value = Schema.LeaseLockKey(name) });
                if (await tryLock.ExecuteScalarAsync(cancellationToken) is not true)
                {
                    await connection.DisposeAsync();
                    return null;
                }
            }
            await using var bump = new NpgsqlCommand("""
                INSERT INTO leases (name, token, holder, acquired_at) VALUES ($1, 1, $2, now())
                ON CONFLICT (name) DO UPDATE SET token = leases.token + 1, holder = excluded.holder, acquired_at = now()
                RETURNING token
                """, connection);
            bump.Parameters.Add(new NpgsqlParameter { Value = name });
            bump.Parameters.Add(new NpgsqlParameter { Value = holder });
            var token = (long)(await bump.ExecuteScalarAsync(cancellationToken))!;
            return new PostgreSqlLease(connection, name, token);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The fencing check of a compaction under <paramref name="lease"/>, in the compaction's own transaction:
    /// FOR SHARE makes a new holder's token bump wait for that transaction, or it see the bumped token.
    /// </summary>
    /// <exception cref="LeaseLostException">Another holder took the lease since.</exception>
    public static async Task CheckFenceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IStoreLease lease, CancellationToken cancellationToken)
    {
        await using var check = new NpgsqlCommand("SELECT token FROM leases WHERE name = $1 FOR SHARE", connection, transaction);
        check.Parameters.Add(new NpgsqlParameter { Value = lease.Name });
        if (await check.ExecuteScalarAsync(cancellationToken) is not long token || token != lease.FencingToken)
        {
            throw new LeaseLostException($"The lease '{lease.Name}' with fencing token {lease.FencingToken} was taken over; nothing was compacted.");
        }
    }

    /// <summary>A held lease: its connection holds the session advisory lock.</summary>
    private sealed class PostgreSqlLease(NpgsqlConnection connection, string name, long token) : IStoreLease
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _lost;

        public string Name { get; } = name;

        public long FencingToken { get; } = token;

        public async ValueTask<bool> IsHeldAsync(CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (_lost)
                {
                    return false;
                }
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                // The connection is alive (so its session still holds the lock) and nobody bumped the token.
                await using var check = new NpgsqlCommand("SELECT token FROM leases WHERE name = $1", connection);
                check.Parameters.Add(new NpgsqlParameter { Value = Name });
                _lost = await check.ExecuteScalarAsync(timeout.Token) is not long current || current != FencingToken;
            }
            catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                _lost = true;
            }
            finally
            {
                _gate.Release();
            }
            return !_lost;
        }

        public async ValueTask DisposeAsync()
        {
            // Closing the connection ends the session, which releases its advisory locks.
            await connection.DisposeAsync();
            _gate.Dispose();
        }
    }
}
