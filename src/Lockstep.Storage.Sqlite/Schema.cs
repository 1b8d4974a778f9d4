namespace Lockstep.Storage.Sqlite;

/// <summary>
/// The schema of the store, version 1. The format is a public API: docs/dev/storage-format.md
/// describes it column by column — keep the two in sync, and bump <see cref="Version"/> with a
/// migration for any change.
/// </summary>
internal static class Schema
{
    public const int Version = 1;

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
}
