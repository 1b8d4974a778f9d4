using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Client.Tests;

/// <summary>Several clients writing through a proxy that cuts their connections a thousand times, mid-frame too.</summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int ClientCount = 4;
    private const int WritesPerClient = 150;
    private const int CutCount = 1000;

    [Fact]
    public async Task Under_a_thousand_random_cuts_every_write_takes_effect_exactly_once_and_every_client_converges()
    {
        await using var server = await TestServer.StartAsync();
        await using var proxy = new FaultProxy(server.HttpUrl, seed: 20261123) { RandomChunkSizes = true, MaxChunkBytes = 512 };
        var name = Harness.Unique("chaos");
        var stores = Enumerable.Range(0, ClientCount).Select(i => i % 2 == 0 ? Harness.TempStore() : null).ToList();
        var clients = stores.Select(store => Harness.Client(proxy.SyncUrl, store)).ToList();
        var backwards = new ConcurrentQueue<string>();
        var hooks = new List<IDisposable>();
        var queries = new List<LiveQuery<JsonObject>>();
        try
        {
            foreach (var (client, index) in clients.Select((c, i) => (c, i)))
            {
                var last = new Dictionary<string, long>(StringComparer.Ordinal);
                var docs = client.Collection(name);
                // Hooks run one at a time, so the dictionary needs no lock.
                hooks.Add(docs.OnRemoteUpdate((update, _) =>
                {
                    if (last.TryGetValue(update.Id, out var seen) && update.Version < seen)
                    {
                        backwards.Enqueue($"client {index}: {update.Id} went from version {seen} to {update.Version}");
                    }
                    last[update.Id] = update.Version;
                }));
                queries.Add(docs.Subscribe());
                await client.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            var clock = Stopwatch.StartNew();
            var blackholes = 0;
            using var stopCutting = new CancellationTokenSource();
            var cutter = Task.Run(async () =>
            {
                var cutRandom = new Random(11);
                var iteration = 0;
                while (proxy.Cuts < CutCount && clock.Elapsed < TimeSpan.FromSeconds(120) && !stopCutting.IsCancellationRequested)
                {
                    await Task.Delay(cutRandom.Next(1, 8));
                    iteration++;
                    if (iteration % 50 == 0)
                    {
                        // Latency comes and goes.
                        proxy.Delay = TimeSpan.FromMilliseconds(cutRandom.Next(0, 4));
                    }
                    if (iteration % 600 == 0)
                    {
                        // The network goes silent: only the heartbeat can tell.
                        proxy.Blackhole = true;
                        await Task.Delay(700);
                        proxy.Blackhole = false;
                        blackholes++;
                    }
                    if (cutRandom.Next(4) == 0)
                    {
                        proxy.CutAll();
                    }
                    else
                    {
                        // Lands inside a frame: a few bytes into the next one in either direction.
                        proxy.CutAfter(cutRandom.Next(2) == 0 ? FaultDirection.ClientToServer : FaultDirection.ServerToClient, cutRandom.Next(1, 300));
                    }
                }
            });

            var writers = clients.Select((client, index) => Task.Run(async () =>
            {
                var docs = client.Collection(name);
                var writes = new List<Task<WriteAck>>();
                var writerRandom = new Random(100 + index);
                for (var w = 0; w < WritesPerClient; w++)
                {
                    writes.Add((w % 3) switch
                    {
                        0 => docs.IncrementAsync("counter", "n"),
                        1 => docs.PatchAsync($"c{index}", new Dictionary<string, object> { [$"f{w % 10}"] = w }),
                        _ => docs.IncrementAsync($"c{index}", "count"),
                    });
                    await Task.Delay(writerRandom.Next(0, 20));
                }
                return await Task.WhenAll(writes);
            })).ToList();

            var acks = await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(180));
            await cutter.WaitAsync(TimeSpan.FromSeconds(180));
            output.WriteLine($"{proxy.Cuts} cuts, {blackholes} silent periods, {proxy.ConnectionsAccepted} connections, {clock.Elapsed.TotalSeconds:F1} s; " +
                $"{acks.Sum(a => a.Count(x => x.Duplicate))} acks were replays");
            Assert.True(proxy.Cuts >= CutCount, $"only {proxy.Cuts} cuts happened");

            // Exactly once: each increment counted once, and each write made exactly one version.
            var incsPerClient = Enumerable.Range(0, WritesPerClient).Count(w => w % 3 == 0);
            var ownIncs = Enumerable.Range(0, WritesPerClient).Count(w => w % 3 == 2);
            var serverDocs = await Harness.ListAsync(server.Http, name);
            Assert.Equal(ClientCount * incsPerClient, (int?)serverDocs["counter"]["n"]);
            Assert.Equal(ClientCount * incsPerClient, await VersionAsync(server.Http, name, "counter"));
            for (var i = 0; i < ClientCount; i++)
            {
                Assert.Equal(ownIncs, (int?)serverDocs[$"c{i}"]["count"]);
                Assert.Equal(WritesPerClient - incsPerClient, await VersionAsync(server.Http, name, $"c{i}"));
                for (var f = 0; f < 10; f++)
                {
                    var last = Enumerable.Range(0, WritesPerClient).Last(w => w % 3 == 1 && w % 10 == f);
                    Assert.Equal(last, (int?)serverDocs[$"c{i}"][$"f{f}"]);
                }
            }

            // Convergence: once the network is quiet, every client's view is the server's.
            foreach (var (client, index) in clients.Select((c, i) => (c, i)))
            {
                await Harness.EventuallyAsync(() => SameDocuments(client.Collection(name).Documents, serverDocs), TimeSpan.FromSeconds(30), $"client {index} converges");
                Assert.Equal(0, client.PendingCount);
            }
            Assert.Empty(backwards);
        }
        finally
        {
            foreach (var query in queries)
            {
                await query.DisposeAsync();
            }
            foreach (var hook in hooks)
            {
                hook.Dispose();
            }
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            foreach (var store in stores.OfType<string>())
            {
                Harness.DeleteStore(store);
            }
        }
    }

    [Theory]
    [InlineData("online")]
    [InlineData("offline")]
    public async Task A_client_process_killed_with_queued_writes_replays_them_exactly_once_after_restart(string mode)
    {
        await using var server = await TestServer.StartAsync();
        // online: slow enough that the kill lands while most writes are on their way, unacknowledged.
        // offline: the server is unreachable, so every write is only in the queue when the process dies.
        await using var proxy = new FaultProxy(server.HttpUrl) { Delay = TimeSpan.FromMilliseconds(5), MaxChunkBytes = 64, RefuseNew = mode == "offline" };
        var store = Harness.TempStore();
        var name = Harness.Unique("crash");
        const int Count = 300;
        try
        {
            using (var process = Processes.Start("tests/tools/Lockstep.Client.Crasher", "Lockstep.Client.Crasher", proxy.SyncUrl.ToString(), store, name, Count.ToString(System.Globalization.CultureInfo.InvariantCulture), mode))
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal("queued", line);
                // Killed with some writes acknowledged, some in flight, some not yet sent.
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            var before = (int?)(await Harness.GetAsync(server.Http, name, "counter"))?["n"] ?? 0;
            output.WriteLine($"{before} of {Count} were applied before the kill");

            await using var restarted = Harness.Client(server.SyncUrl, store);
            await restarted.StartAsync();
            await restarted.WaitForPendingAsync().WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(Count, (int?)(await Harness.GetAsync(server.Http, name, "counter"))?["n"]);
            Assert.Equal(Count, await VersionAsync(server.Http, name, "counter"));
        }
        finally
        {
            Harness.DeleteStore(store);
        }
    }

    private static bool SameDocuments(IReadOnlyDictionary<string, JsonObject> local, Dictionary<string, JsonObject> server) =>
        local.Count == server.Count && server.All(p => local.TryGetValue(p.Key, out var doc) && JsonNode.DeepEquals(doc, p.Value));

    private static async Task<long> VersionAsync(HttpClient http, string collection, string id)
    {
        using var response = await http.GetAsync($"/v1/collections/{collection}/docs/{id}");
        response.EnsureSuccessStatusCode();
        return long.Parse(response.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture);
    }
}
