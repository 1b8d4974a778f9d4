using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>Consumer groups against the real server: sharing, rebalancing, order per document, commits, crashes, the inbox.</summary>
public sealed class ConsumerTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private LockstepConsumer Member(string group, string collection, string name, ConcurrentQueue<(string Member, ConsumedChange Change)> log, int partitions = 8) =>
        new([_server.HttpUrl], group, [collection], (change, _) =>
        {
            log.Enqueue((name, change));
            return ValueTask.CompletedTask;
        }, new ConsumerOptions { Member = name, Partitions = partitions, Lease = TimeSpan.FromSeconds(2), CommitInterval = TimeSpan.FromMilliseconds(100) });

    private async Task<List<long>> WriteAsync(string collection, int docs, int rounds, Func<int, Task>? between = null)
    {
        var seqs = new List<long>();
        for (var r = 0; r < rounds; r++)
        {
            for (var d = 0; d < docs; d++)
            {
                var response = await _server.Http.PutAsJsonAsync($"/v1/collections/{collection}/docs/d{d}", new { round = r });
                response.EnsureSuccessStatusCode();
                seqs.Add((long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["seq"]!);
            }
            if (between is not null)
            {
                await between(r);
            }
        }
        return seqs;
    }

    [Fact]
    public async Task Members_share_the_partitions_rebalance_as_they_join_and_leave_and_each_documents_changes_are_handled_in_order()
    {
        var collection = Harness.Unique("orders");
        var log = new ConcurrentQueue<(string Member, ConsumedChange Change)>();
        await using var a = Member("billing", collection, "a", log);
        await using var b = Member("billing", collection, "b", log);
        await using var c = Member("billing", collection, "c", log);
        await a.StartAsync(default);
        await a.Joined.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(8, a.Partitions.Count);

        var seqs = await WriteAsync(collection, docs: 30, rounds: 20, between: async round =>
        {
            if (round == 5)
            {
                await b.StartAsync(default);
            }
            if (round == 10)
            {
                await c.StartAsync(default);
            }
            if (round == 15)
            {
                await b.StopAsync(default); // leaves: its partitions go to the others at once
            }
            await Task.Delay(100);
        });
        await Harness.EventuallyAsync(() => log.Select(l => l.Change.Seq).Distinct().Count() == seqs.Count, TimeSpan.FromSeconds(30), "every change handled");

        // Shares were even while three were in, and all went to a and c after b left.
        await Harness.EventuallyAsync(() => a.Partitions.Count + c.Partitions.Count == 8 && Math.Abs(a.Partitions.Count - c.Partitions.Count) <= 1, TimeSpan.FromSeconds(10), "a and c share all 8");
        Assert.Empty(a.Partitions.Intersect(c.Partitions));
        Assert.Contains(log, l => l.Member == "b");
        Assert.Contains(log, l => l.Member == "c");

        // At least once, and in order per document: versions first appear as 1, 2, 3, … with no gap.
        foreach (var doc in log.GroupBy(l => l.Change.Id))
        {
            var firsts = doc.Select(l => l.Change.Version).Distinct().ToList();
            Assert.Equal(Enumerable.Range(1, 20).Select(v => (long)v), firsts);
            Assert.Single(doc.Select(l => l.Change.Partition).Distinct());
        }
        Assert.Equal(seqs.Order(), log.Select(l => l.Change.Seq).Distinct().Order());

        // What was handled was committed: a new member after everyone stopped gets nothing again.
        await a.StopAsync(default);
        await c.StopAsync(default);
        var after = log.Count;
        await using var d = Member("billing", collection, "d", log);
        await d.StartAsync(default);
        await d.Joined.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(8, d.Partitions.Count);
        await Task.Delay(1000);
        Assert.Equal(after, log.Count);
    }

    [Fact]
    public void A_lease_the_server_would_refuse_is_refused_when_the_consumer_is_made()
    {
        foreach (var lease in new[] { TimeSpan.FromMinutes(10) + TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(199) })
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new LockstepConsumer([_server.HttpUrl], "g", ["c"], (_, _) => ValueTask.CompletedTask,
                new ConsumerOptions { Lease = lease }));
        }
    }

    [Fact]
    public async Task A_group_reads_only_its_collections_and_its_name_and_collections_are_checked()
    {
        var orders = Harness.Unique("orders");
        var other = Harness.Unique("other");
        var log = new ConcurrentQueue<(string Member, ConsumedChange Change)>();
        await using var a = Member("g-" + orders, orders, "a", log, partitions: 4);
        await a.StartAsync(default);
        await a.Joined.WaitAsync(TimeSpan.FromSeconds(10));
        await _server.Http.PutAsJsonAsync($"/v1/collections/{other}/docs/x", new { n = 1 });
        await _server.Http.PutAsJsonAsync($"/v1/collections/{orders}/docs/x", new { n = 1 });
        await Harness.EventuallyAsync(() => !log.IsEmpty, TimeSpan.FromSeconds(10), "the order");
        await Task.Delay(300);
        Assert.Equal([orders], log.Select(l => l.Change.Collection).Distinct());

        // A member asking the same group for other collections is refused; so are the server's own group mutators.
        var wrong = await _server.Http.PostAsJsonAsync($"/v1/groups/g-{orders}/claim", new { member = "z", collections = new[] { other } });
        Assert.Equal(400, (int)wrong.StatusCode);
        var call = await _server.Http.PostAsJsonAsync("/v1/mutations", new { name = "_lockstep.groups.commit", args = new { } });
        Assert.Equal("unknown_mutator", (string?)(await call.Content.ReadFromJsonAsync<JsonObject>())!["code"]);
        // A stale epoch cannot commit.
        var stale = await _server.Http.PostAsJsonAsync($"/v1/groups/g-{orders}/commit", new { member = "a", commits = new[] { new { partition = 0, epoch = 99, seq = 1 } } });
        Assert.Equal("lease_lost", (string?)(await stale.Content.ReadFromJsonAsync<JsonObject>())!["code"]);
    }

    [Fact]
    public async Task A_member_killed_mid_stream_has_its_uncommitted_changes_redelivered_and_the_inbox_keeps_effects_exactly_once()
    {
        var collection = Harness.Unique("payments");
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-consumer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var db = Path.Combine(dir, "effects.db");
        var processes = new List<Process>();
        try
        {
            await using (var connection = new SqliteConnection($"Data Source={db}"))
            {
                await connection.OpenAsync();
                await using var setup = connection.CreateCommand();
                setup.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE totals (id TEXT PRIMARY KEY, n INTEGER NOT NULL); CREATE TABLE deliveries (seq INTEGER NOT NULL, member TEXT NOT NULL);";
                await setup.ExecuteNonQueryAsync();
                await LockstepInbox.EnsureCreatedAsync(connection);
            }
            async Task<Process> StartMember(string name)
            {
                var process = Processes.Start("tests/tools/Lockstep.Client.Crasher", "Lockstep.Client.Crasher", "consume", _server.HttpUrl.ToString(), "payments-" + collection, collection, db, name);
                processes.Add(process);
                Assert.Equal("joined", await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
                return process;
            }
            async Task<long> Scalar(string sql)
            {
                await using var connection = new SqliteConnection($"Data Source={db}");
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                return (long)(await command.ExecuteScalarAsync())!;
            }
            var victim = await StartMember("m1");
            await StartMember("m2");
            var killed = false;
            var seqs = await WriteAsync(collection, docs: 40, rounds: 25, between: async round =>
            {
                if (killed || round < 8)
                {
                    return;
                }
                // On a loaded machine m1 may lag behind the writes: wait (bounded) until it is well into its
                // share, so that the kill lands mid-stream with rounds still to come, rather than never.
                var until = DateTime.UtcNow.AddSeconds(30);
                while (await Scalar("SELECT count(*) FROM deliveries WHERE member = 'm1'") <= 50 && DateTime.UtcNow < until)
                {
                    await Task.Delay(50);
                }
                if (await Scalar("SELECT count(*) FROM deliveries WHERE member = 'm1'") > 50)
                {
                    victim.Kill(entireProcessTree: true); // SIGKILL: no final commit, no leave
                    await victim.WaitForExitAsync();
                    killed = true;
                }
            });
            Assert.True(killed, "m1 handled changes before the end");
            await StartMember("m3");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (await Scalar("SELECT count(*) FROM lockstep_inbox") < seqs.Count)
            {
                Assert.True(DateTime.UtcNow < deadline, "every change reached the inbox");
                await Task.Delay(100);
            }
            await Task.Delay(1000); // any late duplicate would show now
            // Exactly once in effect: each document's total is its number of changes.
            Assert.Equal(seqs.Count, await Scalar("SELECT sum(n) FROM totals"));
            Assert.Equal(40, await Scalar("SELECT count(*) FROM totals WHERE n = 25"));
            Assert.Equal(seqs.Count, await Scalar("SELECT count(DISTINCT seq) FROM deliveries"));
            var deliveries = await Scalar("SELECT count(*) FROM deliveries");
            Assert.True(deliveries >= seqs.Count);
            output.WriteLine($"{seqs.Count} changes, {deliveries} deliveries ({deliveries - seqs.Count} redelivered after the kill or a rebalance)");
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
                process.Dispose();
            }
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
