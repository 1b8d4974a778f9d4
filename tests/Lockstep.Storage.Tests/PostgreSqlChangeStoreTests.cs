using System.Globalization;
using Lockstep.Storage.PostgreSql;
using Npgsql;
using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>The store contract and PostgreSQL's own guarantees, each test in a database of its own (see <see cref="PostgreSqlTestDatabase"/>).</summary>
public sealed class PostgreSqlChangeStoreTests : ChangeStoreContract
{
    private PostgreSqlTestDatabase? _database;

    private PostgreSqlTestDatabase Database => _database ?? throw new InvalidOperationException("InitializeAsync has not run.");

    protected override IChangeStore CreateStore() => CreateStore(PostgreSqlSynchronousCommit.On);

    private PostgreSqlChangeStore CreateStore(PostgreSqlSynchronousCommit synchronousCommit) =>
        new(new PostgreSqlStoreOptions { ConnectionString = Database.ConnectionString, SynchronousCommit = synchronousCommit });

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _database = await PostgreSqlTestDatabase.CreateAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_store_written_by_a_newer_format_is_refused()
    {
        var store = await OpenAsync();
        await store.DisposeAsync();
        await Database.ScalarAsync("UPDATE schema_version SET version = 99");
        await using var newer = CreateStore();
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await newer.OpenAsync(CancellationToken.None));
        Assert.Contains("version 99", error.Message, StringComparison.Ordinal);
        Assert.Contains("up to version 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_refused_when_the_store_is_created()
    {
        Assert.Throws<ArgumentException>(() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions()));
        Assert.Throws<ArgumentException>(() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = "Host=x", LockTimeout = TimeSpan.FromSeconds(-1) }));
        Assert.Throws<ArgumentException>(() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = "Host=x", IdleInTransactionTimeout = TimeSpan.FromDays(30) }));
        Assert.Throws<ArgumentException>(() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = "Host=x", SynchronousCommit = (PostgreSqlSynchronousCommit)7 }));
        Assert.Throws<ArgumentException>(() => new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = "Hots=x" }));
    }

    /// <summary>Freezes the persisted form of a change: an accidental format change fails here (docs/dev/storage-format.md).</summary>
    [Fact]
    public async Task The_persisted_rows_of_a_change_match_the_documented_format()
    {
        var store = await OpenAsync();
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([new Change
            {
                Seq = 1, Collection = "tasks", Id = "t1", Version = 1, Created = true,
                DocumentJson = "{\"title\":\"Write spec\"}", SetJson = "{\"title\":\"Write spec\"}", UnsetJson = null,
                Hlc = new HlcTimestamp(1732345678901, 2), ClientId = "c-1", MutationNo = 17, PreviousSeq = 0,
            }], [new MutationRecord("c-1", 17, 1, "{\"seq\":1,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1}]}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using var connection = await Database.OpenUnpooledAsync();
        Assert.Equal("1|tasks|t1|1|false|true|{\"title\":\"Write spec\"}|{\"title\":\"Write spec\"}||1732345678901-2|c-1|17|0",
            await RowAsync(connection, "SELECT seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq FROM changes"));
        Assert.Equal("tasks|t1|1|1|false|{\"title\":\"Write spec\"}|1732345678901-2",
            await RowAsync(connection, "SELECT collection, id, version, seq, deleted, body, hlc FROM documents"));
        Assert.Equal("c-1|17|1|{\"seq\":1,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1}]}",
            await RowAsync(connection, "SELECT client_id, mutation_no, seq, result FROM mutations"));
        Assert.Equal("true|1|0", await RowAsync(connection, "SELECT only_row, head, horizon FROM log_head"));
        Assert.Equal("true|3", await RowAsync(connection, "SELECT only_row, version FROM schema_version"));
    }

    /// <summary>Freezes the tables, their column types, collations and keys (docs/dev/storage-format.md).</summary>
    [Fact]
    public async Task The_schema_matches_the_documented_format()
    {
        await OpenAsync();
        await using var connection = await Database.OpenUnpooledAsync();
        const string Columns = """
            SELECT string_agg(table_name || '.' || column_name || ' ' || data_type
                              || coalesce(' collate ' || collation_name, '') || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END,
                              E'\n' ORDER BY table_name, ordinal_position)
            FROM information_schema.columns WHERE table_schema = current_schema()
            """;
        Assert.Equal(
            """
            changes.seq bigint not null
            changes.collection text collate C not null
            changes.id text collate C not null
            changes.version bigint not null
            changes.deleted boolean not null
            changes.created boolean not null
            changes.body text
            changes.set_json text
            changes.unset_json text
            changes.hlc text not null
            changes.client_id text collate C
            changes.mutation_no bigint
            changes.prev_seq bigint not null
            documents.collection text collate C not null
            documents.id text collate C not null
            documents.version bigint not null
            documents.seq bigint not null
            documents.deleted boolean not null
            documents.body text
            documents.hlc text not null
            jobs.id bigint not null
            jobs.queue text collate C not null
            jobs.lane smallint not null
            jobs.state smallint not null
            jobs.payload text not null
            jobs.idempotency_key text collate C
            jobs.run_at timestamp with time zone not null
            jobs.attempts integer not null
            jobs.max_attempts integer not null
            jobs.token bigint not null
            jobs.lease_expires_at timestamp with time zone
            jobs.last_error text
            jobs.enqueued_at timestamp with time zone not null
            jobs.finished_at timestamp with time zone
            leases.name text collate C not null
            leases.token bigint not null
            leases.holder text not null
            leases.acquired_at timestamp with time zone not null
            log_head.only_row boolean not null
            log_head.head bigint not null
            log_head.horizon bigint not null
            mutations.client_id text collate C not null
            mutations.mutation_no bigint not null
            mutations.seq bigint not null
            mutations.result text not null
            nodes.id text collate C not null
            nodes.url text
            nodes.started_at timestamp with time zone not null
            nodes.heartbeat_at timestamp with time zone not null
            nodes.head bigint not null
            schema_version.only_row boolean not null
            schema_version.version integer not null
            """.ReplaceLineEndings("\n"),
            await RowAsync(connection, Columns));
        Assert.Equal(
            """
            changes_pkey: CREATE UNIQUE INDEX changes_pkey ON changes USING btree (seq)
            documents_pkey: CREATE UNIQUE INDEX documents_pkey ON documents USING btree (collection, id)
            jobs_dead: CREATE INDEX jobs_dead ON jobs USING btree (queue, id) WHERE (state = 3)
            jobs_done: CREATE INDEX jobs_done ON jobs USING btree (finished_at) WHERE (state = 2)
            jobs_idempotency: CREATE UNIQUE INDEX jobs_idempotency ON jobs USING btree (queue, idempotency_key) WHERE (idempotency_key IS NOT NULL)
            jobs_leased: CREATE INDEX jobs_leased ON jobs USING btree (queue, lease_expires_at) WHERE (state = 1)
            jobs_pkey: CREATE UNIQUE INDEX jobs_pkey ON jobs USING btree (id)
            jobs_ready: CREATE INDEX jobs_ready ON jobs USING btree (queue, lane, id) WHERE (state = 0)
            leases_pkey: CREATE UNIQUE INDEX leases_pkey ON leases USING btree (name)
            log_head_pkey: CREATE UNIQUE INDEX log_head_pkey ON log_head USING btree (only_row)
            mutations_by_seq: CREATE INDEX mutations_by_seq ON mutations USING btree (seq)
            mutations_pkey: CREATE UNIQUE INDEX mutations_pkey ON mutations USING btree (client_id, mutation_no)
            nodes_pkey: CREATE UNIQUE INDEX nodes_pkey ON nodes USING btree (id)
            schema_version_pkey: CREATE UNIQUE INDEX schema_version_pkey ON schema_version USING btree (only_row)
            """.ReplaceLineEndings("\n"),
            await RowAsync(connection,
                "SELECT string_agg(indexname || ': ' || replace(indexdef, schemaname || '.', ''), E'\\n' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema()"));
    }

    [Fact]
    public async Task Writes_are_durable_by_default_and_the_setting_stays_in_the_transaction()
    {
        var store = await OpenAsync();
        await using (var writer = (PostgreSqlStoreWriter)await store.BeginWriteAsync(CancellationToken.None))
        {
            Assert.Equal("on", await ShowAsync(writer.Connection, "synchronous_commit"));
            Assert.Equal("1min", await ShowAsync(writer.Connection, "lock_timeout"));
            Assert.Equal("30s", await ShowAsync(writer.Connection, "idle_in_transaction_session_timeout"));
        }
        await using var fast = CreateStore(PostgreSqlSynchronousCommit.Off);
        await fast.OpenAsync(CancellationToken.None);
        await using (var writer = (PostgreSqlStoreWriter)await fast.BeginWriteAsync(CancellationToken.None))
        {
            Assert.Equal("off", await ShowAsync(writer.Connection, "synchronous_commit"));
            await writer.CommitAsync(CancellationToken.None);
            // SET LOCAL: the pooled connection goes back with the server's default.
            Assert.Equal("on", await ShowAsync(writer.Connection, "synchronous_commit"));
        }
    }

    [Fact]
    public async Task Stores_opening_a_fresh_database_at_once_create_the_schema_once()
    {
        var stores = Enumerable.Range(0, 8).Select(_ => CreateStore()).ToList();
        try
        {
            var statuses = await Task.WhenAll(stores.Select(s => s.OpenAsync(CancellationToken.None).AsTask()));
            Assert.All(statuses, s => Assert.Equal(new StoreStatus(0, 0), s));
            Assert.Equal(1L, await Database.ScalarAsync("SELECT count(*) FROM schema_version"));
            Assert.Equal(1L, await Database.ScalarAsync("SELECT count(*) FROM log_head"));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_writer_on_another_store_waits_for_the_log_lock_and_continues_the_committed_head()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();
        await AppendAsync(first, NewChange(1, "a"), NewChange(2, "b"));

        await using (var writer = await second.BeginWriteAsync(CancellationToken.None))
        {
            // The second store never appended: its head comes from the database, read under the lock.
            Assert.Equal(2, writer.Head);
        }

        var holder = await first.BeginWriteAsync(CancellationToken.None);
        await holder.AppendAsync([NewChange(3, "a", version: 2)], [], CancellationToken.None);
        var waiting = second.BeginWriteAsync(CancellationToken.None).AsTask();
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted, "a second writer must wait while the first holds the log lock");
        await holder.CommitAsync(CancellationToken.None);
        await holder.DisposeAsync();
        await using var next = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, next.Head);
        Assert.Equal(2, (await next.GetDocumentAsync("c", "a", CancellationToken.None))!.Version);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await next.AppendAsync([NewChange(3, "c")], [], CancellationToken.None));
    }

    [Fact]
    public async Task A_rolled_back_writer_releases_the_log_lock_at_once()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();
        var holder = await first.BeginWriteAsync(CancellationToken.None);
        await holder.AppendAsync([NewChange(1, "a")], [], CancellationToken.None);
        var waiting = second.BeginWriteAsync(CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        await holder.DisposeAsync();
        await using var next = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, next.Head);
    }

    [Fact]
    public async Task A_writer_that_stalls_inside_its_transaction_is_cut_off_and_frees_the_log_lock()
    {
        await using var stalling = new PostgreSqlChangeStore(new PostgreSqlStoreOptions
        {
            ConnectionString = Database.ConnectionString,
            IdleInTransactionTimeout = TimeSpan.FromMilliseconds(300),
        });
        await stalling.OpenAsync(CancellationToken.None);
        var other = await OpenAsync();
        var stalled = await stalling.BeginWriteAsync(CancellationToken.None);
        // A node that stops talking while it holds the lock (a pause, a lost network) must not stop every other node.
        await using (var next = await other.BeginWriteAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(0, next.Head);
            await next.AppendAsync([NewChange(1, "a")], [], CancellationToken.None);
            await next.CommitAsync(CancellationToken.None);
        }
        await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await stalled.AppendAsync([NewChange(1, "b")], [], CancellationToken.None));
        await stalled.DisposeAsync(); // does not throw: the session is gone, and its transaction with it
        await using var reader = await other.BeginReadAsync(CancellationToken.None);
        Assert.Equal("a", Assert.Single(await reader.ReadChangesAsync(0, null, 10, CancellationToken.None)).Id);
    }

    [Fact]
    public async Task A_writer_that_waits_longer_than_the_lock_timeout_fails()
    {
        await using var impatient = new PostgreSqlChangeStore(new PostgreSqlStoreOptions
        {
            ConnectionString = Database.ConnectionString,
            LockTimeout = TimeSpan.FromMilliseconds(200),
        });
        await impatient.OpenAsync(CancellationToken.None);
        var store = await OpenAsync();
        await using var holder = await store.BeginWriteAsync(CancellationToken.None);
        var error = await Assert.ThrowsAsync<PostgresException>(async () => await impatient.BeginWriteAsync(CancellationToken.None));
        Assert.Equal(PostgresErrorCodes.LockNotAvailable, error.SqlState);
    }

    [Fact]
    public async Task Compaction_does_not_wait_for_an_open_write_and_neither_loses_the_other()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"), NewChange(2, "b"), NewChange(3, "c"));
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([NewChange(4, "d")], [], CancellationToken.None);
            // The writer holds the log lock and has updated log_head; compaction needs neither until its last statement.
            var compaction = store.CompactAsync(2, CancellationToken.None).AsTask();
            await Task.Delay(200);
            await writer.CommitAsync(CancellationToken.None);
            Assert.Equal(2, await compaction.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(4, reader.Head);
        Assert.Equal(2, reader.Horizon);
        Assert.Equal([3L, 4L], (await reader.ReadChangesAsync(0, null, 10, CancellationToken.None)).Select(c => c.Seq));
    }

    [Fact]
    public async Task A_commit_notifies_listeners_of_the_new_head()
    {
        var store = await OpenAsync();
        await using var listener = await Database.OpenUnpooledAsync();
        var heads = new List<string>();
        listener.Notification += (_, e) =>
        {
            lock (heads)
            {
                heads.Add(e.Channel + ":" + e.Payload);
            }
        };
        await using (var listen = new NpgsqlCommand("LISTEN lockstep_log", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }
        await using (var rolledBack = await store.BeginWriteAsync(CancellationToken.None))
        {
            await rolledBack.AppendAsync([NewChange(1, "x")], [], CancellationToken.None);
        }
        await AppendAsync(store, NewChange(1, "a"), NewChange(2, "b"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await listener.WaitAsync(timeout.Token);
        lock (heads)
        {
            Assert.Equal(["lockstep_log:2"], heads);
        }
    }

    private static async Task<string?> ShowAsync(NpgsqlConnection connection, string setting)
    {
        await using var command = new NpgsqlCommand("SELECT current_setting($1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = setting });
        return (string?)await command.ExecuteScalarAsync();
    }

    private static async Task<string> RowAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? ""
            : reader.GetValue(i) is bool b ? (b ? "true" : "false")
            : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)));
    }
}
