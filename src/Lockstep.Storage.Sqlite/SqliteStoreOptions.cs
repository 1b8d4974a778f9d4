namespace Lockstep.Storage.Sqlite;

/// <summary>Options of the SQLite store.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>The database file; its directory is created when missing.</summary>
    /// <value>No default: required.</value>
    public string Path { get; set; } = "";

    /// <summary>How durable a commit is.</summary>
    /// <value><see cref="SqliteSynchronous.Full"/>: an acknowledgement means the change is on disk.</value>
    public SqliteSynchronous Synchronous { get; set; } = SqliteSynchronous.Full;

    /// <summary>How long a connection waits on a lock held by another before failing.</summary>
    /// <value>5 seconds.</value>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock of the job queues (run times, leases, backoff): a fake one in tests.</summary>
    /// <value><see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
