using Xunit;

namespace Lockstep.Server.Tests;

public sealed class SlowConsumerTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o =>
    {
        o.SendBufferChanges = 32;
        o.CatchUpPageSize = 100;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_reader_that_stops_reading_falls_back_to_the_log_and_catches_up_without_loss_or_disturbing_others()
    {
        var c = Ops.Unique();
        await using var slow = await _server.ConnectAsync("slow");
        await using var fast = await _server.ConnectAsync("fast");
        await slow.SubscribeAsync("s", c);
        await fast.SubscribeAsync("s", c);
        slow.Reading = false;
        var catchUpsBefore = _server.Engine.Metrics.CatchUps;

        await using var writer = await _server.ConnectAsync("w");
        var payload = new string('p', 4000);
        var pending = new List<Task>();
        for (var i = 0; i < 3000; i++)
        {
            pending.Add(writer.MutateAsync(Ops.Put(c, "d" + (i % 300), new { i, payload })));
            if (pending.Count == 100)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending);
        var head = _server.Engine.Head;

        // The fast reader is not held back by the slow one.
        await fast.WaitForSeqAsync(head, TimeSpan.FromSeconds(20));
        Assert.Empty(fast.Violations);
        Assert.True(_server.Engine.Metrics.CatchUps > catchUpsBefore, "the slow reader should have fallen back to the log");
        // Bounded memory: no connection ever had more than its buffer waiting (plus one batch, which
        // is taken whole when the buffer is empty). Writes come 100 at a time, so batches are small.
        Assert.InRange(_server.Engine.Metrics.QueuedChangesHighWater, 1, 32 + 100);

        slow.Reading = true;
        await slow.WaitForSeqAsync(head, TimeSpan.FromSeconds(30));
        Assert.Empty(slow.Violations);
        Assert.Equal(300, slow.Views["s"].Count);
        Assert.All(slow.Views["s"], p => Assert.Equal(fast.Views["s"][p.Key].Version, p.Value.Version));
        var seqs = slow.Stream.Where(f => (string?)f["t"] == "chg").Select(f => (long)f["seq"]!).ToList();
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        Assert.True(seqs.SequenceEqual(seqs.Order()));
    }
}
