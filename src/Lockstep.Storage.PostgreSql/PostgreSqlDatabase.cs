using System.Data;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Npgsql;

namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// The database a <see cref="PostgreSqlChangeStore"/> stands on: the connection string, the pooled data
/// source (made when the store opens, after the schema check and migration), and connections of their own
/// for what belongs to one session (LISTEN, session advisory locks). The change store owns it; its job
/// queues (<see cref="PostgreSqlJobStore"/>) and its cluster registry (<see cref="PostgreSqlClusterStore"/>)
/// share it.
/// </summary>
internal sealed class PostgreSqlDatabase(string connectionString) : IAsyncDisposable
{
    private NpgsqlDataSource? _dataSource;

    /// <summary>The pooled connections; throws before the store is open.</summary>
    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("Open the store first.");

    /// <summary>True once <see cref="OpenAsync"/> succeeded and until disposed.</summary>
    public bool IsOpen => _dataSource is not null;

    /// <summary>
    /// Makes the data source, checks the database's encoding and creates or migrates the schema; on any
    /// failure nothing stays open.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is not null)
        {
            throw new InvalidOperationException("The store is already open.");
        }
        var dataSource = NpgsqlDataSource.Create(connectionString);
        try
        {
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                await CheckEncodingAsync(connection, cancellationToken);
                await MigrateAsync(connection, cancellationToken);
            }
            _dataSource = dataSource;
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A connection of its own (not pooled: LISTEN and session locks belong to one connection), with
    /// TCP keepalives so that a silently dead network is noticed. Not opened yet.
    /// </summary>
    public NpgsqlConnection DedicatedConnection() =>
        new(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, KeepAlive = 5 }.ConnectionString);

    /// <summary>
    /// Listens on <paramref name="channel"/> on a dedicated connection and yields each notification's
    /// payload. Ends when the token fires; throws when the connection fails (the caller listens again).
    /// </summary>
    public async IAsyncEnumerable<string> ListenAsync(string channel, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = DedicatedConnection();
        await connection.OpenAsync(cancellationToken);
        var payloads = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        connection.Notification += (_, e) => payloads.Writer.TryWrite(e.Payload);
        await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(cancellationToken);
        }
        var pump = Task.Run(async () =>
        {
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(cancellationToken);
                }
                payloads.Writer.TryComplete();
            }
            catch (Exception e)
            {
                // A broken connection ends the enumeration with its error; the caller listens again.
                payloads.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var payload in payloads.Reader.ReadAllAsync(cancellationToken))
            {
                yield return payload;
            }
        }
        finally
        {
            await connection.CloseAsync();
            try
            {
                await pump;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Closes the pooled connections; ones still rented by a reader or writer close when returned.</summary>
    public async ValueTask DisposeAsync()
    {
        var dataSource = Interlocked.Exchange(ref _dataSource, null);
        if (dataSource is not null)
        {
            await dataSource.DisposeAsync();
        }
    }

    /// <summary>A statement of a batch with its positional parameters.</summary>
    public static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        return command;
    }

    private static async Task CheckEncodingAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SHOW server_encoding", connection);
        var encoding = (string?)await command.ExecuteScalarAsync(cancellationToken);
        if (!string.Equals(encoding, "UTF8", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"The database {connection.Database} uses the encoding {encoding}; Lockstep needs UTF8 (CREATE DATABASE … ENCODING 'UTF8').");
        }
    }

    /// <summary>
    /// Creates or migrates the schema in one transaction under the migration lock, so that nodes
    /// starting together neither race on CREATE TABLE nor see a half-made schema: the second waits,
    /// then finds the version the first wrote.
    /// </summary>
    private static async Task MigrateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock($1)", cancellationToken, Schema.MigrationLockKey);
        var version = 0;
        if (await ScalarAsync(connection, transaction, Schema.VersionTableExists, cancellationToken) is true
            && await ScalarAsync(connection, transaction, Schema.ReadVersion, cancellationToken) is int recorded)
        {
            version = recorded;
        }
        if (version > Schema.Version)
        {
            throw new InvalidDataException(
                $"The database {connection.Database} has storage format version {version}; this Lockstep reads up to version {Schema.Version}. Upgrade Lockstep.");
        }
        if (version == Schema.Version)
        {
            return;
        }
        for (var v = version; v < Schema.Version; v++)
        {
            await ExecuteAsync(connection, transaction, Schema.Migrations[v], cancellationToken);
        }
        await ExecuteAsync(connection, transaction, Schema.WriteVersion, cancellationToken, Schema.Version);
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
