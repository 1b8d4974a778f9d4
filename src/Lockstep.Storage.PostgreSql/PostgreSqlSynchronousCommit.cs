namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// PostgreSQL's <c>synchronous_commit</c> for the store's write transactions
/// (https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-SYNCHRONOUS-COMMIT). The store
/// sets it on every write transaction, so the server's own default does not weaken an acknowledgement.
/// </summary>
public enum PostgreSqlSynchronousCommit
{
    /// <summary>
    /// <c>on</c>: a commit returns once its WAL is flushed to disk (and, when the server has synchronous
    /// standbys, flushed on them too): an acknowledged write survives power loss. The default.
    /// </summary>
    On = 0,

    /// <summary><c>local</c>: flushed on the primary's disk, not waiting for synchronous standbys.</summary>
    Local = 1,

    /// <summary>
    /// <c>off</c>: a commit returns before its WAL is flushed; a server crash may lose the last
    /// commits (never corrupting the log). For tests and benchmarks of everything but the disk.
    /// </summary>
    Off = 2,
}
