namespace Lockstep.Storage.Sqlite;

/// <summary>
/// The schema of the store, version 2. The format is a public API: docs/dev/storage-format.md
/// describes it column by column — keep the two in sync, and bump <see cref="Version"/> with a new
/// entry in <see cref="Migrations"/> for any change. <see cref="Create"/> is version 1 and never changes.
/// </summary>
internal static class Schema
{
    public const int Version = 2;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS meta (
            key   TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE IF NOT EXISTS documents (
            collection TEXT    NOT NULL,
            id         TEXT    NOT NULL,
            version    INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            deleted    INTEGER NOT NULL,
            body       TEXT,
            hlc        TEXT    NOT NULL,
            PRIMARY KEY (collection, id)
        ) WITHOUT ROWID;

        CREATE TABLE IF NOT EXISTS changes (
            seq         INTEGER PRIMARY KEY,
            collection  TEXT    NOT NULL,
            id          TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            deleted     INTEGER NOT NULL,
            created     INTEGER NOT NULL,
            body        TEXT,
            set_json    TEXT,
            unset_json  TEXT,
            hlc         TEXT    NOT NULL,
            client_id   TEXT,
            mutation_no INTEGER,
            prev_seq    INTEGER NOT NULL
        );

        CREATE TABLE IF NOT EXISTS mutations (
            client_id   TEXT    NOT NULL,
            mutation_no INTEGER NOT NULL,
            seq         INTEGER NOT NULL,
            result      TEXT    NOT NULL,
            PRIMARY KEY (client_id, mutation_no)
        ) WITHOUT ROWID;

        CREATE INDEX IF NOT EXISTS mutations_by_seq ON mutations (seq);

        INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1), ('head', 0), ('horizon', 0);
        """;

    /// <summary>
    /// <c>Migrations[v - 1]</c> takes a file from version <c>v</c> to <c>v + 1</c>. Each runs in the
    /// transaction that records the new version, so a file is never left half migrated.
    /// </summary>
    public static readonly string[] Migrations =
    [
        // 1 -> 2. Job queues. AUTOINCREMENT so that an id is never reused after a purge: a stale
        // worker's (id, fencing token) must never match a later job. Times are Unix milliseconds.
        """
        CREATE TABLE IF NOT EXISTS jobs (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            queue            TEXT    NOT NULL,
            lane             INTEGER NOT NULL,
            state            INTEGER NOT NULL,
            payload          TEXT    NOT NULL,
            idempotency_key  TEXT,
            run_at           INTEGER NOT NULL,
            attempts         INTEGER NOT NULL,
            max_attempts     INTEGER NOT NULL,
            token            INTEGER NOT NULL,
            lease_expires_at INTEGER,
            last_error       TEXT,
            enqueued_at      INTEGER NOT NULL,
            finished_at      INTEGER
        );

        CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, lane, id) WHERE state = 0;
        CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (queue, lease_expires_at) WHERE state = 1;
        CREATE INDEX IF NOT EXISTS jobs_dead ON jobs (queue, id) WHERE state = 3;
        CREATE INDEX IF NOT EXISTS jobs_done ON jobs (finished_at) WHERE state = 2;
        CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
        """,
    ];
}
