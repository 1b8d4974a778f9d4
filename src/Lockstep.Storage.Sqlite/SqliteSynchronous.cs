namespace Lockstep.Storage.Sqlite;

/// <summary>SQLite's <c>PRAGMA synchronous</c> level for the log (https://sqlite.org/pragma.html#pragma_synchronous).</summary>
public enum SqliteSynchronous
{
    /// <summary>fsync at every commit: an acknowledged write survives power loss. The default.</summary>
    Full = 0,

    /// <summary>In WAL mode, fsync only at checkpoints: survives a process crash, may lose the last commits on power loss.</summary>
    Normal = 1,

    /// <summary>No fsync at all: for tests and benchmarks of everything but the disk.</summary>
    Off = 2,
}
