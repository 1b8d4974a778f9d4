using System.Data.Common;
using System.Globalization;

namespace Lockstep.Outbox;

/// <summary>
/// The relay's reads and writes of the outbox table in the application's database, in the SQL of
/// <see cref="OutboxDialect"/>: each on a connection of its own from the data source, outside any
/// transaction, so a row's mark commits on its own right after the server's answer.
/// </summary>
internal sealed class OutboxTable
{
    private readonly DbDataSource _dataSource;
    private readonly TimeProvider _time;

    public OutboxTable(DbDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
    }

    /// <summary>The outbox's client id, which every row is published under.</summary>
    /// <exception cref="InvalidOperationException">The outbox tables do not exist.</exception>
    public async Task<string> ReadClientIdAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await OutboxSchema.GetClientIdAsync(connection, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The outbox tables do not exist in this database: call OutboxSchema.EnsureCreatedAsync first.");
    }

    /// <summary>At most <paramref name="limit"/> pending rows after id <paramref name="after"/>, in id order.</summary>
    public async Task<List<(long Id, string Mutation)>> ReadPendingAsync(long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.SelectPending);
        OutboxDialect.Add(command, "after", after);
        OutboxDialect.Add(command, "limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<(long, string)>(limit);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }
        return rows;
    }

    /// <summary>Marks a pending row published at the server's <paramref name="serverSeq"/>.</summary>
    public async Task MarkPublishedAsync(long id, long serverSeq, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.MarkPublished);
        OutboxDialect.Add(command, "now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        OutboxDialect.Add(command, "server_seq", serverSeq);
        OutboxDialect.Add(command, "id", id);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Marks a pending row refused with the server's error, and returns the time recorded (to the millisecond, as stored).</summary>
    public async Task<DateTimeOffset> MarkRefusedAsync(long id, string code, string message, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.MarkRefused);
        OutboxDialect.Add(command, "now", now);
        OutboxDialect.Add(command, "error_code", code);
        OutboxDialect.Add(command, "error_message", message);
        OutboxDialect.Add(command, "id", id);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return DateTimeOffset.FromUnixTimeMilliseconds(now);
    }

    /// <summary>When a row was enqueued.</summary>
    public async Task<DateTimeOffset> ReadCreatedAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.SelectCreated);
        OutboxDialect.Add(command, "id", id);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(value, CultureInfo.InvariantCulture));
    }

    /// <summary>Deletes the rows published before <paramref name="before"/> and returns how many went (their ids are never drawn again).</summary>
    public async Task<int> DeletePublishedBeforeAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.DeletePublished);
        OutboxDialect.Add(command, "before", before.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>At most <paramref name="limit"/> refused rows, oldest first, with the server's error.</summary>
    public async Task<IReadOnlyList<OutboxRefusal>> ListRefusedAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.SelectRefused);
        OutboxDialect.Add(command, "limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var list = new List<OutboxRefusal>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new OutboxRefusal(reader.GetInt64(0), reader.GetString(1), reader.GetString(4), reader.GetString(5),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
        }
        return list;
    }

    /// <summary>How many rows wait to be published.</summary>
    public async Task<long> CountPendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.CountPending);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }
}
