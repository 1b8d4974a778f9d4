using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Lockstep.Client;
using Lockstep.Server.Tests;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Cluster.Tests;

/// <summary>Three real nodes over one PostgreSQL: one log, failover, and no lost or repeated change.</summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_write_on_any_node_reaches_subscribers_on_every_node_once_and_in_seq_order()
    {
        await using var cluster = await Cluster.StartAsync(3);
        var collection = "c" + Guid.NewGuid().ToString("N")[..8];
        var urls = cluster.Nodes.Select(n => n!.SyncUrl).ToArray();
        var readers = Enumerable.Range(0, 3).Select(i => new FollowingReader(() => urls, collection, i)).ToList();
        try
        {
            await Task.WhenAll(readers.Select(r => r.Live.Task)).WaitAsync(TimeSpan.FromSeconds(15));
            // Writers on every node at once, onto the same few documents.
            var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = cluster.Node(w).HttpUrl };
                for (var i = 0; i < 100; i++)
                {
                    using var response = await http.PostAsJsonAsync("/v1/mutations", new JsonObject
                    {
                        ["ops"] = new JsonArray(new JsonObject { ["op"] = "inc", ["collection"] = collection, ["id"] = $"d{i % 5}", ["path"] = "n", ["by"] = 1 }),
                    });
                    response.EnsureSuccessStatusCode();
                }
            })).ToList();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

            var log = await ChangeFeedAsync(cluster.Node(0), collection);
            Assert.Equal(300, log.Count);
            foreach (var reader in readers)
            {
                await WaitForAsync(() => reader.Cursor >= log[^1], TimeSpan.FromSeconds(15), "every reader reaches the head");
                Assert.Empty(reader.Violations);
                Assert.Equal(log, reader.Changes.Select(c => c.Seq));
                AssertVersionsConsecutive(reader);
            }
        }
        finally
        {
            foreach (var reader in readers)
            {
                await reader.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Killing_a_node_mid_workload_loses_no_acknowledged_write_and_its_clients_are_back_within_two_seconds()
    {
        await using var cluster = await Cluster.StartAsync(3);
        var collection = "k" + Guid.NewGuid().ToString("N")[..8];
        var urls = cluster.Nodes.Select(n => n!.SyncUrl).ToArray();
        var readers = Enumerable.Range(0, 3).Select(i => new FollowingReader(() => urls, collection, i)).ToList();
        var clients = Enumerable.Range(0, 6).Select(i => new LockstepClientBuilder()
            .WithoutLocalStore()
            .WithAutomaticReconnect(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500))
            .Configure(o =>
            {
                // Client i starts at node i % 3 and fails over along the others.
                foreach (var k in Enumerable.Range(0, 3))
                {
                    o.Urls.Add(urls[(i + k) % 3]);
                }
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
            })
            .Build()).ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.StartAsync())).WaitAsync(TimeSpan.FromSeconds(15));
            await Task.WhenAll(readers.Select(r => r.Live.Task)).WaitAsync(TimeSpan.FromSeconds(15));
            var victim = cluster.Node(1).SyncUrl;
            var onVictim = clients.Where(c => c.ConnectedUrl == victim).ToList();
            Assert.NotEmpty(onVictim);

            using var stop = new CancellationTokenSource();
            var acks = new ConcurrentDictionary<int, int>();
            var workload = clients.Select((client, i) => Task.Run(async () =>
            {
                var writes = new List<Task<WriteAck>>();
                var docs = client.Collection(collection);
                while (!stop.IsCancellationRequested)
                {
                    writes.Add(docs.IncrementAsync($"c{i}", "n"));
                    writes.Add(docs.IncrementAsync("shared", "n"));
                    await Task.Delay(5);
                }
                await Task.WhenAll(writes);
                acks[i] = writes.Count / 2;
            })).ToList();

            await Task.Delay(1000);
            var killedAt = Stopwatch.StartNew();
            await cluster.KillAsync(1);
            var backAfter = new ConcurrentBag<double>();
            await Task.WhenAll(onVictim.Select(async client =>
            {
                await WaitForAsync(() => client.State == ConnectionState.Online && client.ConnectedUrl != victim, TimeSpan.FromSeconds(10), "a client of the killed node reconnects elsewhere");
                backAfter.Add(killedAt.Elapsed.TotalMilliseconds);
            }));
            output.WriteLine($"{onVictim.Count} clients were on the killed node; back after {string.Join(", ", backAfter.Order().Select(ms => $"{ms:F0} ms"))}");
            Assert.All(backAfter, ms => Assert.True(ms <= 2000, $"a client took {ms:F0} ms to be back"));

            await Task.Delay(1000);
            await stop.CancelAsync();
            await Task.WhenAll(workload).WaitAsync(TimeSpan.FromSeconds(60));

            // Every write was acknowledged, and each took effect exactly once.
            var survivor = cluster.Node(0);
            var total = 0;
            for (var i = 0; i < clients.Count; i++)
            {
                var doc = await Cluster.GetJsonAsync(survivor, $"/v1/collections/{collection}/docs/c{i}");
                Assert.Equal(acks[i], (int)doc["n"]!);
                total += acks[i];
            }
            Assert.Equal(total, (int)(await Cluster.GetJsonAsync(survivor, $"/v1/collections/{collection}/docs/shared"))["n"]!);

            // Every subscriber, the one whose node died included, saw each change once, in order.
            var log = await ChangeFeedAsync(survivor, collection);
            Assert.Equal(2 * total, log.Count);
            foreach (var reader in readers)
            {
                await WaitForAsync(() => reader.Cursor >= log[^1], TimeSpan.FromSeconds(15), "every reader reaches the head");
                Assert.Empty(reader.Violations);
                Assert.Equal(log, reader.Changes.Select(c => c.Seq));
                AssertVersionsConsecutive(reader);
            }
            Assert.True(readers[1].Connections >= 2, "the reader on the killed node moved to another");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            foreach (var reader in readers)
            {
                await reader.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Every_node_is_listed_with_its_health_and_one_holds_the_compaction_lease_which_moves_when_it_dies()
    {
        await using var cluster = await Cluster.StartAsync(3);
        JsonObject view = [];
        await WaitForAsync(() =>
        {
            view = Cluster.GetJsonAsync(cluster.Node(0), "/v1/cluster").GetAwaiter().GetResult();
            return view["nodes"]!.AsArray().Count(n => (bool)n!["healthy"]!) == 3;
        }, TimeSpan.FromSeconds(10), "three healthy nodes");
        Assert.True((bool)view["clustered"]!);

        var holders = new List<(int Index, long Token)>();
        for (var i = 0; i < 3; i++)
        {
            var self = await Cluster.GetJsonAsync(cluster.Node(i), "/v1/cluster");
            if (self["compactionLeaseToken"] is { } token)
            {
                holders.Add((i, (long)token));
            }
        }
        var holder = Assert.Single(holders);

        await cluster.KillAsync(holder.Index);
        var others = Enumerable.Range(0, 3).Where(i => i != holder.Index).ToList();
        var moved = Stopwatch.StartNew();
        long? newToken = null;
        await WaitForAsync(() =>
        {
            foreach (var i in others)
            {
                if (Cluster.GetJsonAsync(cluster.Node(i), "/v1/cluster").GetAwaiter().GetResult()["compactionLeaseToken"] is { } t)
                {
                    newToken = (long)t;
                    return true;
                }
            }
            return false;
        }, TimeSpan.FromSeconds(15), "the lease moves to a live node");
        output.WriteLine($"lease moved in {moved.ElapsedMilliseconds} ms, token {holder.Token} → {newToken}");
        Assert.True(newToken > holder.Token, "the new holder's fencing token is greater");

        await WaitForAsync(() =>
        {
            var nodes = Cluster.GetJsonAsync(cluster.Node(others[0]), "/v1/cluster").GetAwaiter().GetResult()["nodes"]!.AsArray();
            return nodes.Count == 3 && nodes.Count(n => (bool)n!["healthy"]!) == 2;
        }, TimeSpan.FromSeconds(15), "the dead node is still listed, as unhealthy");
    }

    [Fact]
    public async Task A_PostgreSQL_restart_mid_workload_shows_errors_then_everything_recovers_with_nothing_lost()
    {
        var data = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES_DATA")
            ?? throw new InvalidOperationException("LOCKSTEP_TEST_POSTGRES_DATA is not set: run ./test.sh (tests/postgres/start.sh sets it).");
        await using var cluster = await Cluster.StartAsync(2);
        var collection = "r" + Guid.NewGuid().ToString("N")[..8];
        var urls = cluster.Nodes.Select(n => n!.SyncUrl).ToArray();
        var readers = Enumerable.Range(0, 2).Select(i => new FollowingReader(() => urls, collection, i)).ToList();
        var clients = Enumerable.Range(0, 2).Select(i => new LockstepClientBuilder()
            .WithoutLocalStore()
            .WithAutomaticReconnect(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500))
            .Configure(o =>
            {
                o.Urls.Add(urls[i]);
                o.Urls.Add(urls[1 - i]);
            })
            .Build()).ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.StartAsync())).WaitAsync(TimeSpan.FromSeconds(15));
            await Task.WhenAll(readers.Select(r => r.Live.Task)).WaitAsync(TimeSpan.FromSeconds(15));
            using var stop = new CancellationTokenSource();
            var acks = new ConcurrentDictionary<int, int>();
            var sdkWriters = clients.Select((client, i) => Task.Run(async () =>
            {
                var writes = new List<Task<WriteAck>>();
                while (!stop.IsCancellationRequested)
                {
                    writes.Add(client.Collection(collection).IncrementAsync($"c{i}", "n"));
                    await Task.Delay(10);
                }
                await Task.WhenAll(writes);
                acks[i] = writes.Count;
            })).ToList();
            // A plain HTTP writer: numbered writes, each retried with the same number until it succeeds.
            var refusals = 0;
            var restWrites = 0;
            var restWriter = Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
                for (var mid = 1; !stop.IsCancellationRequested; mid++)
                {
                    while (true)
                    {
                        try
                        {
                            using var response = await http.PostAsJsonAsync("/v1/mutations", new JsonObject
                            {
                                ["clientId"] = "rest-writer",
                                ["mid"] = mid,
                                ["ops"] = new JsonArray(new JsonObject { ["op"] = "inc", ["collection"] = collection, ["id"] = "rest", ["path"] = "n", ["by"] = 1 }),
                            });
                            if (response.IsSuccessStatusCode)
                            {
                                break;
                            }
                            Assert.Equal(503, (int)response.StatusCode);
                        }
                        catch (HttpRequestException)
                        {
                        }
                        catch (TaskCanceledException)
                        {
                        }
                        Interlocked.Increment(ref refusals);
                        await Task.Delay(100);
                    }
                    restWrites = mid;
                    await Task.Delay(10);
                }
            });

            await Task.Delay(1000);
            // Down for a moment, then up again: a write while it is down must be refused with 503 (not hang, not be
            // taken), whether or not the writers above happen to hit the window.
            await PgCtlAsync(data, "stop");
            using (var probe = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(30) })
            using (var refused = await probe.PostAsJsonAsync("/v1/mutations", new JsonObject
                {
                    ["ops"] = new JsonArray(new JsonObject { ["op"] = "put", ["collection"] = collection + "-probe", ["id"] = "p", ["doc"] = new JsonObject() }),
                }))
            {
                Assert.Equal(503, (int)refused.StatusCode);
                Interlocked.Increment(ref refusals);
            }
            await PgCtlAsync(data, "start");
            await Task.Delay(3000);
            await stop.CancelAsync();
            await Task.WhenAll([.. sdkWriters, restWriter]).WaitAsync(TimeSpan.FromSeconds(90));
            output.WriteLine($"{refusals} HTTP writes refused during the restart; {restWrites} HTTP writes, {acks.Values.Sum()} client writes in all");
            Assert.True(refusals > 0, "the restart was visible as errors");

            var node = cluster.Node(0);
            Assert.Equal(restWrites, (int)(await Cluster.GetJsonAsync(node, $"/v1/collections/{collection}/docs/rest"))["n"]!);
            for (var i = 0; i < clients.Count; i++)
            {
                Assert.Equal(acks[i], (int)(await Cluster.GetJsonAsync(node, $"/v1/collections/{collection}/docs/c{i}"))["n"]!);
            }
            var log = await ChangeFeedAsync(node, collection);
            Assert.Equal(restWrites + acks.Values.Sum(), log.Count);
            foreach (var reader in readers)
            {
                await WaitForAsync(() => reader.Cursor >= log[^1], TimeSpan.FromSeconds(30), "every reader reaches the head");
                Assert.Empty(reader.Violations);
                Assert.Equal(log, reader.Changes.Select(c => c.Seq));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            foreach (var reader in readers)
            {
                await reader.DisposeAsync();
            }
        }
    }

    /// <summary>Restarts the test run's PostgreSQL (fast shutdown: connections are cut, committed data stays).</summary>
    private static async Task PgCtlAsync(string data, string command)
    {
        var pgCtl = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin", "pg_ctl")).Where(File.Exists).Order().Last();
        var info = new ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-u", "postgres", "--", pgCtl, "-D", data, "-l", Path.Combine(data, "server.log"), "-m", "fast", "-w", "-t", "60", command })
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"pg_ctl {command} failed: " + await stderr);
    }

    [Fact]
    public async Task Compaction_on_the_lease_holder_moves_the_horizon_that_every_node_reports()
    {
        var options = new Dictionary<string, string>
        {
            ["Lockstep__RetainedChanges"] = "10",
            ["Lockstep__CompactionInterval"] = "00:00:00.500",
        };
        await using var cluster = await Cluster.StartAsync(2, options);
        var collection = "h" + Guid.NewGuid().ToString("N")[..8];
        using (var http = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl })
        {
            for (var i = 0; i < 40; i++)
            {
                using var response = await http.PutAsJsonAsync($"/v1/collections/{collection}/docs/d{i}", new JsonObject { ["n"] = i });
                response.EnsureSuccessStatusCode();
            }
        }
        // Only one node compacts; both report the horizon it reached (health and hello say the same).
        await WaitForAsync(() => Enumerable.Range(0, 2).All(i =>
            (long)Cluster.GetJsonAsync(cluster.Node(i), "/healthz").GetAwaiter().GetResult()["horizon"]! >= 30),
            TimeSpan.FromSeconds(20), "every node reports the compacted horizon");
    }

    private static void AssertVersionsConsecutive(FollowingReader reader)
    {
        foreach (var group in reader.Changes.GroupBy(c => c.Id))
        {
            var versions = group.Select(c => c.Version).ToList();
            Assert.Equal(Enumerable.Range(1, versions.Count).Select(v => (long)v), versions);
        }
    }

    private static async Task<List<long>> ChangeFeedAsync(ServerProcess node, string collection)
    {
        var seqs = new List<long>();
        long after = 0;
        while (true)
        {
            var page = await Cluster.GetJsonAsync(node, $"/v1/changes?after={after}&collections={collection}&limit=10000");
            var changes = page["changes"]!.AsArray();
            seqs.AddRange(changes.Select(c => (long)c!["seq"]!));
            if (changes.Count == 0)
            {
                return seqs;
            }
            after = (long)page["cursor"]!;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout}: {what}.");
            }
            await Task.Delay(20);
        }
    }
}
