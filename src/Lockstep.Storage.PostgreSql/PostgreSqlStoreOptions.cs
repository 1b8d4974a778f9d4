namespace Lockstep.Storage.PostgreSql;

/// <summary>Options of the PostgreSQL store. Checked when the store is created.</summary>
public sealed class PostgreSqlStoreOptions
{
    /// <summary>
    /// An Npgsql connection string, for example <c>Host=db;Database=lockstep;Username=lockstep;Password=…</c>.
    /// The tables live in the first schema of the connection's search path (<c>Search Path=…</c>
    /// chooses another); one database holds one Lockstep log, because its advisory locks are
    /// database-wide. The database must use the UTF8 encoding. Readers and writers each hold one pooled
    /// connection while open, so <c>Maximum Pool Size</c> (Npgsql's default: 100) bounds how many
    /// catch-up reads a node runs at once.
    /// </summary>
    /// <value>No default: required. Without <c>Application Name</c>, connections show as <c>Lockstep</c>.</value>
    public string ConnectionString { get; set; } = "";

    /// <summary>How durable a commit is.</summary>
    /// <value><see cref="PostgreSqlSynchronousCommit.On"/>: an acknowledgement means the change is on disk.</value>
    public PostgreSqlSynchronousCommit SynchronousCommit { get; set; } = PostgreSqlSynchronousCommit.On;

    /// <summary>
    /// How long a write transaction waits for the log lock (held by another node's batch) before it
    /// fails (<c>lock_timeout</c>); <see cref="TimeSpan.Zero"/> waits for ever.
    /// </summary>
    /// <value>60 seconds: longer than <see cref="IdleInTransactionTimeout"/>, so a stalled holder is cut off before waiters give up.</value>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a write transaction may sit idle between statements before PostgreSQL ends its session
    /// (<c>idle_in_transaction_session_timeout</c>), releasing the log lock. It protects every other node
    /// from a node that stalls or loses its network while holding the lock. <see cref="TimeSpan.Zero"/>
    /// disables it.
    /// </summary>
    /// <value>30 seconds.</value>
    public TimeSpan IdleInTransactionTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new ArgumentException("PostgreSqlStoreOptions.ConnectionString is required.", nameof(ConnectionString));
        }
        if (!Enum.IsDefined(SynchronousCommit))
        {
            throw new ArgumentException($"PostgreSqlStoreOptions.SynchronousCommit has no value {(int)SynchronousCommit}.", nameof(SynchronousCommit));
        }
        CheckTimeout(LockTimeout, nameof(LockTimeout));
        CheckTimeout(IdleInTransactionTimeout, nameof(IdleInTransactionTimeout));
    }

    private static void CheckTimeout(TimeSpan value, string name)
    {
        // PostgreSQL takes these in whole milliseconds, as a 32-bit integer.
        if (value < TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentException($"PostgreSqlStoreOptions.{name} must be between 0 and {int.MaxValue} ms; it is {value}.", name);
        }
    }
}
