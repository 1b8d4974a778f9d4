using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

public sealed class CrashTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "lockstep-crash-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Every_acknowledged_write_survives_sigkill_during_concurrent_writes_and_seq_has_no_gap()
    {
        var acked = new ConcurrentDictionary<string, (long Seq, long Version)>();
        for (var round = 0; round < 2; round++)
        {
            await using var server = await ServerProcess.StartAsync(_dataDir);
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                try
                {
                    await using var client = await SyncClient.ConnectAsync(server.SyncUrl, $"crash-{round}-{w}");
                    for (var k = 1; !stop.IsCancellationRequested && k < 100_000; k++)
                    {
                        var id = $"r{round}-w{w}-{k}";
                        var ack = await client.MutateAsync(k, Ops.Put("crash", id, new { round, w, k }), Ops.Inc("crash", "counter-" + w, "n", 1));
                        if ((string?)ack["t"] == "ack")
                        {
                            acked[id] = ((long)ack["seq"]! - 1, (long)ack["results"]![0]!["v"]!);
                        }
                    }
                }
                catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or TimeoutException or InvalidOperationException or OperationCanceledException)
                {
                    // the server died under us: exactly what this test does
                }
            })).ToList();
            // Writes well under way before the kill: the first acks can take a while on a loaded machine (bounded).
            var firstAck = DateTime.UtcNow.AddSeconds(15);
            while (acked.IsEmpty && DateTime.UtcNow < firstAck)
            {
                await Task.Delay(50);
            }
            await Task.Delay(1500);
            Assert.True(!acked.IsEmpty, "writers should have been acknowledged before the crash");
            await server.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));
        }

        await using var restarted = await ServerProcess.StartAsync(_dataDir);
        using var http = new HttpClient { BaseAddress = restarted.HttpUrl };
        var seqs = new List<long>();
        var logged = new Dictionary<long, string>();
        long after = 0;
        while (true)
        {
            var page = JsonNode.Parse(await http.GetStringAsync($"/v1/changes?after={after}&limit=10000"))!;
            var changes = page["changes"]!.AsArray();
            foreach (var change in changes)
            {
                var seq = (long)change!["seq"]!;
                seqs.Add(seq);
                logged[seq] = (string)change["id"]!;
            }
            after = (long)page["cursor"]!;
            if (changes.Count < 10000)
            {
                break;
            }
        }
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        foreach (var (id, (seq, version)) in acked)
        {
            Assert.True(logged.TryGetValue(seq, out var loggedId) && loggedId == id, $"acknowledged write {id} at seq {seq} is missing after the crash");
            var doc = await http.GetAsync($"/v1/collections/crash/docs/{id}");
            Assert.True(doc.IsSuccessStatusCode, $"acknowledged document {id} is missing after the crash");
            Assert.Equal($"\"{version}\"", doc.Headers.ETag?.ToString());
        }
    }
}
