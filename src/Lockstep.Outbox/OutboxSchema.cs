using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;

namespace Lockstep.Outbox;

/// <summary>
/// Creates the outbox tables in a service's own database (SQLite or PostgreSQL): <c>lockstep_outbox</c>,
/// whose ids are the mutation ids, and <c>lockstep_outbox_meta</c>, which holds the outbox's client id.
/// </summary>
public static class OutboxSchema
{
    /// <summary>The version of the outbox tables this library writes.</summary>
    public const int Version = 1;

    internal const string ClientIdKey = "client_id";

    internal const string VersionKey = "schema_version";

    /// <summary>
    /// Creates the outbox tables when missing, in a transaction of its own (so the connection must not
    /// be in one), and names the outbox. The client id the relay publishes under is
    /// <c>&lt;name&gt;:&lt;random suffix&gt;</c>, drawn once, when the tables are created: a dropped and recreated
    /// outbox, whose ids start again at 1, can never be mistaken by the server for the old one.
    /// Safe to call on every start and from several processes at once.
    /// </summary>
    /// <param name="connection">A SQLite or PostgreSQL connection; opened when closed.</param>
    /// <param name="name">The outbox's name, unique among everything that writes to the same Lockstep server (for example the service's name): 1 to 64 letters, digits, '-', '_' or '.'.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The outbox's client id.</returns>
    /// <exception cref="InvalidOperationException">The outbox in this database already has another name.</exception>
    public static async Task<string> EnsureCreatedAsync(DbConnection connection, string name, CancellationToken cancellationToken = default)
    {
        var dialect = OutboxDialect.Of(connection);
        if (!IsValidName(name))
        {
            throw new ArgumentException("An outbox name is 1 to 64 letters, digits, '-', '_' or '.'.", nameof(name));
        }
        if (connection.State != ConnectionState.Open)
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (dialect.SchemaLock is { } schemaLock)
        {
            await ExecuteAsync(connection, transaction, schemaLock, cancellationToken).ConfigureAwait(false);
        }
        await ExecuteAsync(connection, transaction, dialect.CreateTable, cancellationToken).ConfigureAwait(false);
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await InsertMetaAsync(connection, transaction, ClientIdKey, name + ":" + suffix, cancellationToken).ConfigureAwait(false);
        await InsertMetaAsync(connection, transaction, VersionKey, Version.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        var clientId = await ReadMetaAsync(connection, transaction, ClientIdKey, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The outbox's client id was not stored.");
        var version = await ReadMetaAsync(connection, transaction, VersionKey, cancellationToken).ConfigureAwait(false);
        if (version != Version.ToString(CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"The outbox tables are at version {version}; this library writes version {Version}.");
        }
        if (!clientId.StartsWith(name + ":", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The outbox in this database is named '{clientId[..clientId.LastIndexOf(':')]}', not '{name}'.");
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return clientId;
    }

    /// <summary>The outbox's client id (<c>&lt;name&gt;:&lt;suffix&gt;</c>), or null when <see cref="EnsureCreatedAsync"/> has not run on this database.</summary>
    /// <param name="connection">A SQLite or PostgreSQL connection; opened when closed. On PostgreSQL the tables are looked for on the search path.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public static async Task<string?> GetClientIdAsync(DbConnection connection, CancellationToken cancellationToken = default)
    {
        OutboxDialect.Of(connection);
        if (connection.State != ConnectionState.Open)
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        return await TableExistsAsync(connection, cancellationToken).ConfigureAwait(false)
            ? await ReadMetaAsync(connection, null, ClientIdKey, cancellationToken).ConfigureAwait(false)
            : null;
    }

    internal static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= 64 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static async Task<bool> TableExistsAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var sql = OutboxDialect.Of(connection).IsPostgreSql
            ? "SELECT count(*) FROM pg_tables WHERE tablename = 'lockstep_outbox_meta' AND schemaname = ANY (current_schemas(false))"
            : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'lockstep_outbox_meta'";
        await using var command = OutboxDialect.Command(connection, null, sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) > 0;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = OutboxDialect.Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task InsertMetaAsync(DbConnection connection, DbTransaction transaction, string key, string value, CancellationToken cancellationToken)
    {
        await using var command = OutboxDialect.Command(connection, transaction, OutboxDialect.InsertMeta);
        OutboxDialect.Add(command, "key", key);
        OutboxDialect.Add(command, "value", value);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<string?> ReadMetaAsync(DbConnection connection, DbTransaction? transaction, string key, CancellationToken cancellationToken)
    {
        await using var command = OutboxDialect.Command(connection, transaction, OutboxDialect.SelectMeta);
        OutboxDialect.Add(command, "key", key);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }
}
