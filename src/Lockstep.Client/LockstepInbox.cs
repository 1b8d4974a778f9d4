using System.Data.Common;

namespace Lockstep.Client;

/// <summary>
/// Exactly-once effects for a consumer group's handler: record each change as processed in the same
/// local database transaction as its effects. A redelivered change (after a crash or a rebalance)
/// finds its record and is skipped. Works with any ADO.NET provider whose SQL has
/// <c>INSERT … ON CONFLICT DO NOTHING</c> (SQLite, PostgreSQL); with EF Core, pass
/// <c>Database.GetDbTransaction()</c>.
/// </summary>
public static class LockstepInbox
{
    /// <summary>The table: <c>lockstep_inbox (consumer_group, seq)</c>.</summary>
    public const string Table = "lockstep_inbox";

    /// <summary>Creates the table if it is missing.</summary>
    public static async Task EnsureCreatedAsync(DbConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = connection.CreateCommand();
        command.CommandText = $"CREATE TABLE IF NOT EXISTS {Table} (consumer_group TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (consumer_group, seq))";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records the change inside <paramref name="transaction"/>; true the first time, false when it was
    /// processed before (skip its effects). Commit the transaction with the effects.
    /// </summary>
    public static async Task<bool> TryMarkAsync(DbTransaction transaction, ConsumedChange change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(change);
        await using var command = transaction.Connection!.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"INSERT INTO {Table} (consumer_group, seq) VALUES (@g, @s) ON CONFLICT DO NOTHING";
        var group = command.CreateParameter();
        group.ParameterName = "@g";
        group.Value = change.Group;
        command.Parameters.Add(group);
        var seq = command.CreateParameter();
        seq.ParameterName = "@s";
        seq.Value = change.Seq;
        command.Parameters.Add(seq);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }
}
