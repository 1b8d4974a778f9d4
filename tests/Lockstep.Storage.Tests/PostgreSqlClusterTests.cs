using Lockstep.Storage.PostgreSql;
using Npgsql;
using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>What several nodes share through the PostgreSQL store: notifications, the node registry, leases with fencing tokens.</summary>
public sealed class PostgreSqlClusterTests : IAsyncLifetime
{
    private PostgreSqlTestDatabase _database = null!;
    private readonly List<PostgreSqlChangeStore> _stores = [];

    public async Task InitializeAsync() => _database = await PostgreSqlTestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
        await _database.DisposeAsync();
    }

    private async Task<PostgreSqlChangeStore> NodeAsync()
    {
        var store = new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = _database.ConnectionString });
        _stores.Add(store);
        await store.OpenAsync(CancellationToken.None);
        return store;
    }

    [Fact]
    public async Task A_commit_on_one_node_notifies_the_others_with_the_new_head()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var heads = new List<long>();
        var listening = new TaskCompletionSource();
        var watch = Task.Run(async () =>
        {
            await using var enumerator = b.WatchHeadAsync(stop.Token).GetAsyncEnumerator(stop.Token);
            listening.TrySetResult();
            while (await enumerator.MoveNextAsync())
            {
                heads.Add(enumerator.Current);
                if (enumerator.Current >= 3)
                {
                    return;
                }
            }
        });
        await listening.Task;
        // The LISTEN is issued on the first MoveNextAsync; give it a moment to be in place.
        await Task.Delay(300);
        await Append(a, 1);
        await Append(a, 2, 3);
        await watch.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(3, heads[^1]);
        Assert.All(heads.Zip(heads.Skip(1)), p => Assert.True(p.Second > p.First));
    }

    [Fact]
    public async Task Nodes_heartbeat_are_listed_with_a_recent_heartbeat_and_leave()
    {
        var a = await NodeAsync();
        var started = DateTimeOffset.UtcNow;
        await a.HeartbeatAsync(new("n-a", "http://127.0.0.1:1", started, started, 5), CancellationToken.None);
        await a.HeartbeatAsync(new("n-b", null, started, started, 7), CancellationToken.None);

        var nodes = await a.ListNodesAsync(CancellationToken.None);
        Assert.Equal(["n-a", "n-b"], nodes.Select(n => n.Id));
        Assert.Equal("http://127.0.0.1:1", nodes[0].Url);
        Assert.Equal(7, nodes[1].Head);
        Assert.All(nodes, n => Assert.True(DateTimeOffset.UtcNow - n.LastHeartbeat < TimeSpan.FromSeconds(5)));

        await a.LeaveAsync("n-a", CancellationToken.None);
        Assert.Equal(["n-b"], (await a.ListNodesAsync(CancellationToken.None)).Select(n => n.Id));
    }

    [Fact]
    public async Task A_lease_has_one_holder_and_moves_with_a_greater_token_when_its_holder_dies()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var first = await a.TryAcquireLeaseAsync("compaction", "n-a", CancellationToken.None);
        Assert.NotNull(first);
        Assert.Null(await b.TryAcquireLeaseAsync("compaction", "n-b", CancellationToken.None));
        Assert.True(await first.IsHeldAsync(CancellationToken.None));

        await KillLeaseHolderAsync();
        Assert.False(await first.IsHeldAsync(CancellationToken.None));

        var second = await b.TryAcquireLeaseAsync("compaction", "n-b", CancellationToken.None);
        Assert.NotNull(second);
        Assert.True(second.FencingToken > first.FencingToken);
        await first.DisposeAsync();
        await second.DisposeAsync();
    }

    [Fact]
    public async Task A_holder_that_lost_its_lease_cannot_compact_but_the_new_holder_can()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await Append(a, 1, 2, 3, 4);
        var stale = await a.TryAcquireLeaseAsync("compaction", "n-a", CancellationToken.None);
        Assert.NotNull(stale);

        // The holder pauses; meanwhile its session is gone and another node takes the lease.
        await KillLeaseHolderAsync();
        var fresh = await b.TryAcquireLeaseAsync("compaction", "n-b", CancellationToken.None);
        Assert.NotNull(fresh);

        // It wakes up and tries to do its duty with the token it still has: refused, nothing removed.
        await Assert.ThrowsAsync<Lockstep.Core.LeaseLostException>(async () => await a.CompactAsync(3, stale, CancellationToken.None));
        Assert.Equal(0L, await _database.ScalarAsync("SELECT horizon FROM log_head"));
        Assert.Equal(4L, await _database.ScalarAsync("SELECT count(*) FROM changes"));

        Assert.Equal(3, await b.CompactAsync(3, fresh, CancellationToken.None));
        Assert.Equal(3L, await _database.ScalarAsync("SELECT horizon FROM log_head"));
        await stale.DisposeAsync();
        await fresh.DisposeAsync();
    }

    /// <summary>Ends the session that holds the compaction lease's advisory lock, as a crash of its node would.</summary>
    private async Task KillLeaseHolderAsync()
    {
        var key = Schema.LeaseLockKey("compaction");
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var kill = new NpgsqlCommand("""
            SELECT count(pg_terminate_backend(pid)) FROM (
                SELECT DISTINCT pid FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1) holders
            """, connection);
        kill.Parameters.Add(new NpgsqlParameter { Value = key });
        Assert.Equal(1L, await kill.ExecuteScalarAsync());
        // pg_terminate_backend only signals: wait until the lock is really gone.
        for (var i = 0; i < 100; i++)
        {
            await using var held = new NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = $1", connection);
            held.Parameters.Add(new NpgsqlParameter { Value = key });
            if ((long)(await held.ExecuteScalarAsync())! == 0)
            {
                return;
            }
            await Task.Delay(20);
        }
        Assert.Fail("The lease holder's session did not end.");
    }

    [Fact]
    public async Task A_writer_asked_about_its_last_head_reads_what_other_nodes_committed_since_under_the_lock()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        long known;
        await using (var writer = await a.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([Doc(1, "x", 1, "{\"n\":1}"), Doc(2, "y", 1, "{\"n\":1}")], [new MutationRecord("ca", 1, 2, "{}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
            known = 2;
        }
        // Node b changes x twice and deletes y, records a mutation of client cb, then a refused one
        // (a record that does not move the head), and a lower number of client ca.
        await using (var writer = await b.BeginWriteAsync(known, CancellationToken.None))
        {
            Assert.NotNull(writer.WrittenSince);
            Assert.Empty(writer.WrittenSince.Documents);
            await writer.AppendAsync([Doc(3, "x", 2, "{\"n\":2}"), Doc(4, "x", 3, "{\"n\":3}"), Doc(5, "y", 2, null)],
                [new MutationRecord("cb", 7, 5, "{}"), new MutationRecord("ca", 0, 5, "{}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await b.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([], [new MutationRecord("cb", 9, 5, "{\"error\":{}}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }

        await using (var writer = await a.BeginWriteAsync(known, CancellationToken.None))
        {
            var since = writer.WrittenSince;
            Assert.NotNull(since);
            Assert.Equal(5, writer.Head);
            Assert.Equal(known, since.AfterSeq);
            var x = Assert.Single(since.Documents, d => d.Id == "x");
            var y = Assert.Single(since.Documents, d => d.Id == "y");
            Assert.Equal(2, since.Documents.Count);
            // Each is exactly the document row the store holds.
            Assert.Equal(await writer.GetDocumentAsync("c", "x", CancellationToken.None), x);
            Assert.Equal(await writer.GetDocumentAsync("c", "y", CancellationToken.None), y);
            Assert.Equal((3L, 4L, false, "{\"n\":3}"), (x.Version, x.Seq, x.Deleted, x.Json));
            Assert.True(y.Deleted);
            Assert.Equal(9, since.LastMutationNos["cb"]);
            Assert.Equal(1, since.LastMutationNos["ca"]);
        }
        // The head did not move since 5, but a refused mutation's record would still be read.
        await using (var writer = await b.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([], [new MutationRecord("cc", 3, 5, "{\"error\":{}}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await a.BeginWriteAsync(5, CancellationToken.None))
        {
            Assert.NotNull(writer.WrittenSince);
            Assert.Empty(writer.WrittenSince.Documents);
            Assert.Equal(3, writer.WrittenSince.LastMutationNos["cc"]);
        }
    }

    [Fact]
    public async Task A_writer_gets_nothing_to_catch_up_from_when_the_log_was_compacted_past_its_head_or_moved_or_recorded_too_much()
    {
        var a = await NodeAsync();
        await Append(a, 1, 2, 3, 4);
        await a.CompactAsync(3, CancellationToken.None);
        await using (var writer = await a.BeginWriteAsync(2, CancellationToken.None))
        {
            Assert.Null(writer.WrittenSince);
        }
        await using (var writer = await a.BeginWriteAsync(3, CancellationToken.None))
        {
            Assert.Equal("d4", Assert.Single(writer.WrittenSince!.Documents).Id);
        }
        await Append(a, [.. Enumerable.Range(5, PostgreSqlChangeStore.WrittenSinceMaxChanges + 1).Select(s => (long)s)]);
        await using (var writer = await a.BeginWriteAsync(4, CancellationToken.None))
        {
            Assert.Null(writer.WrittenSince);
        }
        await using (var writer = await a.BeginWriteAsync(5, CancellationToken.None))
        {
            Assert.Equal(PostgreSqlChangeStore.WrittenSinceMaxChanges, writer.WrittenSince!.Documents.Count);
        }
        // Refused mutations add records without moving the head: more of them than the bound is too much too.
        var head = 5L + PostgreSqlChangeStore.WrittenSinceMaxChanges;
        await using (var writer = await a.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([], [.. Enumerable.Range(1, PostgreSqlChangeStore.WrittenSinceMaxChanges).Select(n => new MutationRecord("spam", n, head, "{}"))],
                CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await a.BeginWriteAsync(head, CancellationToken.None))
        {
            Assert.Equal(PostgreSqlChangeStore.WrittenSinceMaxChanges, writer.WrittenSince!.LastMutationNos["spam"]);
        }
        await using (var writer = await a.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([], [new MutationRecord("spam", PostgreSqlChangeStore.WrittenSinceMaxChanges + 1, head, "{}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await a.BeginWriteAsync(head, CancellationToken.None))
        {
            Assert.Null(writer.WrittenSince);
        }
    }

    [Fact]
    public async Task A_writer_gets_nothing_to_catch_up_from_when_the_bodies_written_since_are_too_large()
    {
        var a = await NodeAsync();
        var body = "{\"s\":\"" + new string('x', 1 << 20) + "\"}";
        var count = (int)(PostgreSqlChangeStore.WrittenSinceMaxBytes / body.Length);
        await using (var writer = await a.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([.. Enumerable.Range(1, count).Select(i => Doc(i, "big" + i, 1, body))], [], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await a.BeginWriteAsync(0, CancellationToken.None))
        {
            Assert.Equal(count, writer.WrittenSince!.Documents.Count);
            Assert.Equal(body, writer.WrittenSince.Documents[0].Json);
        }
        await using (var writer = await a.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([Doc(count + 1, "big" + (count + 1), 1, body)], [], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using (var writer = await a.BeginWriteAsync(0, CancellationToken.None))
        {
            Assert.Null(writer.WrittenSince);
        }
        await using (var writer = await a.BeginWriteAsync(1, CancellationToken.None))
        {
            Assert.Equal(count, writer.WrittenSince!.Documents.Count);
        }
    }

    private static Change Doc(long seq, string id, long version, string? json) => new()
    {
        Seq = seq,
        Collection = "c",
        Id = id,
        Version = version,
        Created = version == 1,
        Deleted = json is null,
        DocumentJson = json,
        SetJson = json is null ? null : "{}",
        Hlc = new HlcTimestamp(1_700_000_000_000 + seq, 0),
        PreviousSeq = version == 1 ? 0 : seq - 1,
    };

    private static async Task Append(PostgreSqlChangeStore store, params long[] seqs)
    {
        await using var writer = await store.BeginWriteAsync(CancellationToken.None);
        await writer.AppendAsync([.. seqs.Select(s => new Change
        {
            Seq = s,
            Collection = "c",
            Id = "d" + s,
            Version = 1,
            Created = true,
            DocumentJson = "{}",
            SetJson = "{}",
            Hlc = new HlcTimestamp(1_700_000_000_000 + s, 0),
        })], [], CancellationToken.None);
        await writer.CommitAsync(CancellationToken.None);
    }
}
