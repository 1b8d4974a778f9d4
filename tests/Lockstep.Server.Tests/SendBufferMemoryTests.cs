using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>A paused reader costs the server about its send buffer, in bytes, however much is written meanwhile; then it catches up whole and in order.</summary>
[Collection(nameof(ManagedHeap))]
public sealed class SendBufferMemoryTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        // No document cache: it would grow with the writes whoever reads them, and hide what the reader costs.
        o.DocumentCacheBytes = 0;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_reader_that_stops_reading_while_thousands_of_kilobyte_changes_are_written_holds_about_its_send_buffer_and_then_catches_up_in_order()
    {
        var c = Ops.Unique();
        var payload = new string('p', 2000);
        const int Documents = 2000;
        await using var writer = await _server.ConnectAsync("w");
        // The documents exist before the reader subscribes: the server's own state for a document (ids,
        // versions) is then the same before and after, and what grows is what the reader costs.
        for (var m = 0; m < Documents / 100; m++)
        {
            await writer.MutateAsync([.. Enumerable.Range(0, 100).Select(i => Ops.Put(c, "d" + (m * 100 + i), new { m = -1, i, payload }))]);
        }
        await using var paused = await _server.ConnectAsync("paused");
        await paused.SubscribeAsync("s", c);
        paused.Reading = false;
        await writer.MutateAsync(Ops.Put(c, "d0", new { m = -1, i = 0, payload }));
        var before = ManagedHeap.Measure();
        var catchUpsBefore = _server.Engine.Metrics.CatchUps;

        // 20,000 changes of 2 KB (40 MB), 100 to a mutation so the writer's own replies stay few.
        for (var m = 0; m < 200; m++)
        {
            // A new payload each time, so each change's frame carries its 2 KB (kernel buffers cannot hide 40 MB).
            var fresh = new string((char)('a' + (m % 26)), 2000);
            var ops = Enumerable.Range(0, 100).Select(i => Ops.Put(c, "d" + ((m * 100 + i) % Documents), new { m, i, payload = fresh })).ToArray();
            var ack = await writer.MutateAsync(ops);
            Assert.Equal("ack", (string?)ack["t"]);
        }
        var head = _server.Engine.Head;
        var during = ManagedHeap.Measure();
        // The send buffer is 4 MiB (SendBufferBytes): the queue, plus the log page held while a send waits,
        // about twice that (measured: 13-15 MiB in all, 85 MiB before the bound in bytes). The same writes
        // with no reader cost 4-8 MiB here (pooled buffers): that is the allowance on top.
        var sendBuffer = _server.Engine.Options.SendBufferBytes;
        Assert.True(during - before < 2 * sendBuffer + 12 * ManagedHeap.MiB,
            $"the managed heap grew by {(during - before) / 1024} KiB while a paused reader was sent 40 MB of changes");

        paused.Reading = true;
        await paused.WaitForSeqAsync(head, TimeSpan.FromSeconds(60));
        Assert.Empty(paused.Violations);
        Assert.True(_server.Engine.Metrics.CatchUps > catchUpsBefore, "the paused reader should have fallen back to the log");
        Assert.Equal(Documents, paused.Views["s"].Count);
        var seqs = paused.Stream.Where(f => (string?)f["t"] == "chg").Select(f => (long)f["seq"]!).ToList();
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        Assert.True(seqs.SequenceEqual(seqs.Order()));
        // Every document ends at its last write: the tenth, from mutation 180 onwards.
        Assert.All(Enumerable.Range(0, Documents), d =>
        {
            var doc = paused.Views["s"]["d" + d].Doc;
            Assert.Equal((18_000 + d) / 100, (int)doc["m"]!);
            Assert.Equal((18_000 + d) % 100, (int)doc["i"]!);
        });
    }

    [Fact]
    public async Task A_reader_that_stops_reading_while_it_catches_up_from_the_log_pins_no_read_transaction()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w2");
        await writer.MutateAsync(Ops.Put(c, "first", new { n = 0 }));
        var cursor = _server.Engine.Head;
        await WriteAsync(writer, c, 0, 100);

        // Resuming far behind: the reader catches up from the log at once, and stops reading there.
        await using var paused = await _server.ConnectAsync("paused2", cursor: cursor, subs: [new { sub = "s", collection = c }]);
        paused.Reading = false;
        await Task.Delay(500);
        await WriteAsync(writer, c, 100, 200);

        // A page's read transaction held open while its send waits would keep SQLite from ever restarting
        // its write-ahead log: the log would hold everything written since (about 80 MB here).
        var wal = new FileInfo(Path.Combine(_server.DataDir, "lockstep.db-wal"));
        wal.Refresh();
        Assert.True(!wal.Exists || wal.Length < 32 * ManagedHeap.MiB, $"the write-ahead log grew to {wal.Length / ManagedHeap.MiB} MiB behind a paused reader");

        var head = _server.Engine.Head;
        paused.Reading = true;
        await paused.WaitForSeqAsync(head, TimeSpan.FromSeconds(60));
        Assert.Empty(paused.Violations);
        var seqs = paused.Stream.Where(f => (string?)f["t"] == "chg").Select(f => (long)f["seq"]!).ToList();
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        Assert.True(seqs.SequenceEqual(seqs.Order()));
        Assert.Equal(2000, paused.Views["s"].Count(p => p.Key.StartsWith('d')));
        Assert.All(Enumerable.Range(0, 2000), d => Assert.Equal((18_000 + d) / 100, (int)paused.Views["s"]["d" + d].Doc["m"]!));
    }

    /// <summary>Mutations <paramref name="from"/> to <paramref name="to"/> (exclusive) of 100 puts of 2 KB each, over 2,000 documents.</summary>
    private static async Task WriteAsync(SyncClient writer, string collection, int from, int to)
    {
        for (var m = from; m < to; m++)
        {
            var fresh = new string((char)('a' + (m % 26)), 2000);
            var ack = await writer.MutateAsync([.. Enumerable.Range(0, 100).Select(i => Ops.Put(collection, "d" + ((m * 100 + i) % 2000), new { m, i, payload = fresh }))]);
            Assert.Equal("ack", (string?)ack["t"]);
        }
    }
}
