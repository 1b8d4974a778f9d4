using Microsoft.Data.Sqlite;

namespace Lockstep.Storage.Sqlite;

/// <summary>
/// The one writer connection of a SQLite file, its prepared statements, and the lock that lets one
/// write transaction at a time use it: a batch of the sequencer (held from <see cref="EnterAsync"/> until
/// the writer ends), a compaction or a job update (<see cref="InTransactionAsync{T}"/>). The change
/// store opens it and owns it; the job store shares it.
/// </summary>
internal sealed class SqliteWriteConnection : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private SqliteConnection? _connection;
    private WriterCommands? _commands;

    /// <summary>True once <see cref="Attach"/> ran and until disposed.</summary>
    public bool IsOpen => _connection is not null;

    /// <summary>The writer connection; throws before the store is open.</summary>
    public SqliteConnection Connection => _connection ?? throw new InvalidOperationException("Open the store first.");

    /// <summary>The statements every batch reuses.</summary>
    public WriterCommands Commands => _commands ?? throw new InvalidOperationException("Open the store first.");

    /// <summary>Takes over an opened, migrated connection and prepares its statements.</summary>
    public void Attach(SqliteConnection connection)
    {
        _commands = new WriterCommands(connection);
        _connection = connection;
    }

    /// <summary>Waits for the connection to be free; <see cref="Exit"/> frees it.</summary>
    public Task EnterAsync(CancellationToken cancellationToken) => _lock.WaitAsync(cancellationToken);

    /// <summary>Frees the connection for the next write transaction.</summary>
    public void Exit() => _lock.Release();

    /// <summary>Runs <paramref name="work"/> in one <c>BEGIN IMMEDIATE</c> transaction on the connection, between batches, and commits it.</summary>
    public async ValueTask<T> InTransactionAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        var connection = Connection;
        await _lock.WaitAsync(cancellationToken);
        try
        {
            using var tx = connection.BeginTransaction(deferred: false);
            var result = work(connection, tx);
            tx.Commit();
            return result;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Closes the connection once the write transaction in progress, if any, has ended.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync();
        try
        {
            _commands?.Dispose();
            _commands = null;
            if (_connection is not null)
            {
                await _connection.DisposeAsync();
                _connection = null;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>A command on the connection inside <paramref name="tx"/>.</summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction tx, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }
}
