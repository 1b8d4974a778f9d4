using System.Data.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// A read model in the service's own database (SQLite or PostgreSQL through ADO.NET), built from
/// several collections and kept up to date: a consumer group whose handler applies each change in a
/// local transaction that also records it, so redelivery (after a crash or a rebalance) has no effect
/// twice and an older version of a document never overwrites a newer one. <see cref="RebuildAsync"/>
/// empties the model and replays the log from its start under a new group.
/// </summary>
public sealed class LockstepProjection : IHostedService, IAsyncDisposable
{
    /// <summary>The projection's bookkeeping table: <c>(name, generation)</c>.</summary>
    public const string Table = "lockstep_projections";

    /// <summary>The newest version applied per source document: <c>(projection, collection, id, version)</c>.</summary>
    public const string VersionsTable = "lockstep_projection_versions";

    private readonly IReadOnlyList<Uri> _servers;
    private readonly string _name;
    private readonly string[] _collections;
    private readonly Func<CancellationToken, Task<DbConnection>> _open;
    private readonly Func<ConsumedChange, DbTransaction, CancellationToken, Task> _apply;
    private readonly ProjectionOptions _options;
    private readonly Func<CancellationToken, ValueTask<string?>>? _tokenProvider;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private LockstepConsumer? _consumer;

    /// <summary>A projection named <paramref name="name"/> (the same in every process that builds this read model).</summary>
    /// <param name="servers">The Lockstep servers (base or sync URLs).</param>
    /// <param name="name">The read model's name; its consumer group is <c>projection.NAME.GENERATION</c>.</param>
    /// <param name="collections">The collections it is built from.</param>
    /// <param name="open">Opens a connection to the read model's database.</param>
    /// <param name="apply">Applies one change to the read model inside the given transaction (idempotency and version order are taken care of).</param>
    /// <param name="options">Settings.</param>
    /// <param name="tokenProvider">The bearer token for the server.</param>
    /// <param name="loggerFactory">Logging.</param>
    public LockstepProjection(IEnumerable<Uri> servers, string name, IEnumerable<string> collections, Func<CancellationToken, Task<DbConnection>> open,
        Func<ConsumedChange, DbTransaction, CancellationToken, Task> apply, ProjectionOptions? options = null,
        Func<CancellationToken, ValueTask<string?>>? tokenProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(collections);
        _servers = [.. servers];
        _name = name;
        _collections = [.. collections];
        _open = open ?? throw new ArgumentNullException(nameof(open));
        _apply = apply ?? throw new ArgumentNullException(nameof(apply));
        _options = options ?? new ProjectionOptions();
        _tokenProvider = tokenProvider;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The consumer group now building the model (it changes with each rebuild).</summary>
    public string? Group => _consumer?.Group;

    /// <summary>The running member (its partitions, <see cref="LockstepConsumer.Joined"/>).</summary>
    public LockstepConsumer? Consumer => _consumer;

    /// <summary>Creates the bookkeeping tables, then starts following the log.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var generation = await PrepareAsync(rebuild: false, cancellationToken).ConfigureAwait(false);
            await StartConsumerAsync(generation, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops following the log (what was being applied finishes and is committed).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_consumer is { } consumer)
            {
                _consumer = null;
                await consumer.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Builds the model again from the log: stops, empties it (<see cref="ProjectionOptions.Reset"/>) and its
    /// version records in one transaction with a new generation, and replays everything under a new
    /// consumer group. Needs the log from its start (a server whose log was compacted answers
    /// <c>cursor_expired</c>). Other processes building the same model pick up the new generation when they restart.
    /// </summary>
    public async Task RebuildAsync(CancellationToken cancellationToken)
    {
        await StopAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var generation = await PrepareAsync(rebuild: true, cancellationToken).ConfigureAwait(false);
            await StartConsumerAsync(generation, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops and releases.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _gate.Dispose();
    }

    private async Task StartConsumerAsync(long generation, CancellationToken cancellationToken)
    {
        var group = $"projection.{_name}.{generation}";
        _consumer = new LockstepConsumer(_servers, group, _collections, ApplyAsync, _options.Consumer, _tokenProvider, _loggerFactory);
        await _consumer.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One change: in one transaction, skip it if it was applied or is older than what was, else apply it and record it.</summary>
    private async ValueTask ApplyAsync(ConsumedChange change, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(_options.Isolation, cancellationToken).ConfigureAwait(false);
        var applied = await ScalarAsync(tx, $"SELECT version FROM {VersionsTable} WHERE projection = @p AND collection = @c AND id = @i", cancellationToken,
            ("@p", _name), ("@c", change.Collection), ("@i", change.Id)).ConfigureAwait(false);
        if (applied is not null && Convert.ToInt64(applied, System.Globalization.CultureInfo.InvariantCulture) >= change.Version)
        {
            return; // applied before, or a newer version is already in: nothing to do
        }
        await _apply(change, tx, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(tx, $"INSERT INTO {VersionsTable} (projection, collection, id, version) VALUES (@p, @c, @i, @v) "
            + "ON CONFLICT (projection, collection, id) DO UPDATE SET version = excluded.version", cancellationToken,
            ("@p", _name), ("@c", change.Collection), ("@i", change.Id), ("@v", change.Version)).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the tables; the current generation, or a new one with the model emptied.</summary>
    private async Task<long> PrepareAsync(bool rebuild, CancellationToken cancellationToken)
    {
        await using var connection = await _open(cancellationToken).ConfigureAwait(false);
        await using (var create = connection.CreateCommand())
        {
            create.CommandText = $"CREATE TABLE IF NOT EXISTS {Table} (name TEXT PRIMARY KEY, generation BIGINT NOT NULL)";
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            create.CommandText = $"CREATE TABLE IF NOT EXISTS {VersionsTable} (projection TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, "
                + "PRIMARY KEY (projection, collection, id))";
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(tx, $"INSERT INTO {Table} (name, generation) VALUES (@n, 1) ON CONFLICT (name) DO NOTHING", cancellationToken, ("@n", _name)).ConfigureAwait(false);
        if (rebuild)
        {
            await ExecuteAsync(tx, $"UPDATE {Table} SET generation = generation + 1 WHERE name = @n", cancellationToken, ("@n", _name)).ConfigureAwait(false);
            await ExecuteAsync(tx, $"DELETE FROM {VersionsTable} WHERE projection = @n", cancellationToken, ("@n", _name)).ConfigureAwait(false);
            if (_options.Reset is { } reset)
            {
                await reset(tx, cancellationToken).ConfigureAwait(false);
            }
        }
        var generation = Convert.ToInt64(await ScalarAsync(tx, $"SELECT generation FROM {Table} WHERE name = @n", cancellationToken, ("@n", _name)).ConfigureAwait(false),
            System.Globalization.CultureInfo.InvariantCulture);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return generation;
    }

    private static async Task<object?> ScalarAsync(DbTransaction tx, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(tx, sql, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    private static async Task ExecuteAsync(DbTransaction tx, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(tx, sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static DbCommand Command(DbTransaction tx, string sql, (string Name, object Value)[] parameters)
    {
        var command = tx.Connection!.CreateCommand();
        command.Transaction = tx;
#pragma warning disable CA2100 // the SQL is this class's own constants; values go in parameters
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}
