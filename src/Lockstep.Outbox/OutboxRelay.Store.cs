using System.Globalization;

namespace Lockstep.Outbox;

/// <summary>The relay's reads and writes of the outbox table: each on a connection of its own from the data source, outside any transaction.</summary>
public sealed partial class OutboxRelay
{
    private async Task<string> ReadClientIdAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await OutboxSchema.GetClientIdAsync(connection, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The outbox tables do not exist in this database: call OutboxSchema.EnsureCreatedAsync first.");
    }

    private async Task<List<(long Id, string Mutation)>> ReadPendingAsync(long after, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.SelectPending);
        OutboxDialect.Add(command, "after", after);
        OutboxDialect.Add(command, "limit", _options.BatchSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<(long, string)>(_options.BatchSize);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }
        return rows;
    }

    private async Task MarkPublishedAsync(long id, long seq, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.MarkPublished);
        OutboxDialect.Add(command, "now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        OutboxDialect.Add(command, "seq", seq);
        OutboxDialect.Add(command, "id", id);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<DateTimeOffset> MarkRefusedAsync(long id, string code, string message, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.MarkRefused);
        OutboxDialect.Add(command, "now", now.ToUnixTimeMilliseconds());
        OutboxDialect.Add(command, "code", code);
        OutboxDialect.Add(command, "message", message);
        OutboxDialect.Add(command, "id", id);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
    }

    private async Task<DateTimeOffset> ReadCreatedAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, "SELECT created_at FROM lockstep_outbox WHERE id = @id");
        OutboxDialect.Add(command, "id", id);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(value, CultureInfo.InvariantCulture));
    }

    /// <summary>At most once an hour: published rows older than the retention go (their ids are never drawn again).</summary>
    private async Task DeleteOldPublishedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_options.PublishedRetention is not { } retention || now < _nextCleanup)
        {
            return;
        }
        _nextCleanup = now + CleanupInterval;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = OutboxDialect.Command(connection, null, OutboxDialect.DeletePublished);
        OutboxDialect.Add(command, "before", (now - retention).ToUnixTimeMilliseconds());
        var deleted = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        Log.Deleted(_logger, deleted, retention);
    }
}
