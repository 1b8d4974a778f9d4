namespace Lockstep.Storage.PostgreSql;

/// <summary>
/// The schema of the PostgreSQL store, version 3, and the advisory-lock keys every node agrees on.
/// The format is a public API: docs/dev/storage-format.md describes it column by column — keep the
/// two in sync, and bump <see cref="Version"/> with a new entry in <see cref="Migrations"/> for any change.
/// </summary>
internal static class Schema
{
    public const int Version = 3;

    /// <summary>
    /// Serializes every append to the log, across all nodes: taken with <c>pg_advisory_xact_lock</c>
    /// as the first statement of a write transaction and held until it commits or rolls back. The
    /// bytes of "Lockstep" (in <c>pg_locks</c>: classid 1282368363, objid 1937007984).
    /// </summary>
    public const long LogLockKey = 0x4C6F636B73746570;

    /// <summary>Serializes schema creation and migration when several nodes start at once (objid 1937007985).</summary>
    public const long MigrationLockKey = LogLockKey + 1;

    /// <summary>Serializes compactions with each other, not with appends (objid 1937007986).</summary>
    public const long CompactionLockKey = LogLockKey + 2;

    /// <summary>Leases take <c>LeaseLockKeyBase + (FNV-1a(name) &amp; 0xFFFFF)</c> as a session advisory lock, held on the lease's own connection.</summary>
    public const long LeaseLockKeyBase = LogLockKey + 0x100000;

    /// <summary>The channel a committed append notifies, with the new head as its payload (a wake-up hint for other nodes).</summary>
    public const string NotifyChannel = "lockstep_log";

    /// <summary>The channel an enqueue or replay notifies, with the queue's name as its payload (a wake-up hint for waiting claims on other nodes).</summary>
    public const string JobsNotifyChannel = "lockstep_jobs";

    /// <summary>
    /// <c>Migrations[v]</c> takes a database from version <c>v</c> to <c>v + 1</c>; version 0 is an
    /// empty database. Each runs inside the migration transaction, under <see cref="MigrationLockKey"/>.
    /// </summary>
    public static readonly string[] Migrations =
    [
        // 0 -> 1. Ids and collection names use the "C" collation: byte order, which for UTF-8 is
        // code-point order, the same order SQLite's BINARY collation gives. Bodies are text, not
        // jsonb: jsonb would reorder keys and drop whitespace, and the log keeps what was written.
        """
        CREATE TABLE IF NOT EXISTS schema_version (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            version  integer NOT NULL
        );

        CREATE TABLE IF NOT EXISTS log_head (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            head     bigint  NOT NULL,
            horizon  bigint  NOT NULL
        );

        CREATE TABLE IF NOT EXISTS documents (
            collection text   COLLATE "C" NOT NULL,
            id         text   COLLATE "C" NOT NULL,
            version    bigint  NOT NULL,
            seq        bigint  NOT NULL,
            deleted    boolean NOT NULL,
            body       text,
            hlc        text    NOT NULL,
            PRIMARY KEY (collection, id)
        );

        CREATE TABLE IF NOT EXISTS changes (
            seq         bigint  PRIMARY KEY,
            collection  text    COLLATE "C" NOT NULL,
            id          text    COLLATE "C" NOT NULL,
            version     bigint  NOT NULL,
            deleted     boolean NOT NULL,
            created     boolean NOT NULL,
            body        text,
            set_json    text,
            unset_json  text,
            hlc         text    NOT NULL,
            client_id   text    COLLATE "C",
            mutation_no bigint,
            prev_seq    bigint  NOT NULL
        );

        CREATE TABLE IF NOT EXISTS mutations (
            client_id   text   COLLATE "C" NOT NULL,
            mutation_no bigint NOT NULL,
            seq         bigint NOT NULL,
            result      text   NOT NULL,
            PRIMARY KEY (client_id, mutation_no)
        );

        CREATE INDEX IF NOT EXISTS mutations_by_seq ON mutations (seq);

        INSERT INTO log_head (head, horizon) VALUES (0, 0) ON CONFLICT (only_row) DO NOTHING;
        """,

        // 1 -> 2. The cluster: a node registry with heartbeats (by the database's clock), and leases
        // for singleton duties, each with the fencing token of its newest holder.
        """
        CREATE TABLE IF NOT EXISTS nodes (
            id           text        COLLATE "C" PRIMARY KEY,
            url          text,
            started_at   timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL,
            head         bigint      NOT NULL
        );

        CREATE TABLE IF NOT EXISTS leases (
            name        text        COLLATE "C" PRIMARY KEY,
            token       bigint      NOT NULL,
            holder      text        NOT NULL,
            acquired_at timestamptz NOT NULL
        );
        """,

        // 2 -> 3. Job queues. Times are the database's (now()), so nodes with different clocks agree on
        // run times and lease ends. An identity never reuses an id, so a stale worker's (id, fencing
        // token) never matches a later job. Claims lock with FOR UPDATE SKIP LOCKED (see the store).
        """
        CREATE TABLE IF NOT EXISTS jobs (
            id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            queue            text        COLLATE "C" NOT NULL,
            lane             smallint    NOT NULL,
            state            smallint    NOT NULL,
            payload          text        NOT NULL,
            idempotency_key  text        COLLATE "C",
            run_at           timestamptz NOT NULL,
            attempts         integer     NOT NULL,
            max_attempts     integer     NOT NULL,
            token            bigint      NOT NULL,
            lease_expires_at timestamptz,
            last_error       text,
            enqueued_at      timestamptz NOT NULL,
            finished_at      timestamptz
        );

        CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, lane, id) WHERE state = 0;
        CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (queue, lease_expires_at) WHERE state = 1;
        CREATE INDEX IF NOT EXISTS jobs_dead ON jobs (queue, id) WHERE state = 3;
        CREATE INDEX IF NOT EXISTS jobs_done ON jobs (finished_at) WHERE state = 2;
        CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
        """,
    ];

    /// <summary>The advisory-lock key of a lease: stable across processes and versions.</summary>
    public static long LeaseLockKey(string name)
    {
        // FNV-1a, 32 bits, over the UTF-8 bytes: the same key on every node (string.GetHashCode is not).
        var hash = 2166136261u;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(name))
        {
            hash = (hash ^ b) * 16777619u;
        }
        return LeaseLockKeyBase + (hash & 0xFFFFF);
    }

    /// <summary>True when the schema_version table exists (looked up along the connection's search_path).</summary>
    public const string VersionTableExists = "SELECT to_regclass('schema_version') IS NOT NULL";

    /// <summary>The version recorded in the database (no row: treated as 0).</summary>
    public const string ReadVersion = "SELECT version FROM schema_version";

    public const string WriteVersion = """
        INSERT INTO schema_version (version) VALUES ($1)
        ON CONFLICT (only_row) DO UPDATE SET version = excluded.version
        """;
}
