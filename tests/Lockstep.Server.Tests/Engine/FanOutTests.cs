using System.Text.Json.Nodes;
using Lockstep.Core;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The fan-out alone, and fed by the sequencer over a real SQLite file: listeners, heads, and the collections a batch names.</summary>
public sealed class FanOutTests
{
    private static Change Change(long seq, string collection, string id) => new()
    {
        Seq = seq, Collection = collection, Id = id, Version = 1, Created = true, DocumentJson = "{}", SetJson = "{}",
        Hlc = new HlcTimestamp(1_700_000_000_000, 0), PreviousSeq = 0,
    };

    private static ChangeBatch Batch(long from, params string[] collections) =>
        new([.. collections.Select((c, i) => Change(from + i, c, "d" + (from + i)))], from + collections.Length - 1);

    [Fact]
    public void Every_added_listener_is_offered_each_batch_then_the_head_moves_and_a_removed_one_hears_nothing_more()
    {
        var fanOut = new FanOut();
        fanOut.Start(10);
        var a = new RecordingListener();
        var b = new RecordingListener();
        fanOut.Add(a);
        fanOut.Add(b);
        fanOut.Add(a);
        Assert.Equal(2, fanOut.ListenerCount);

        var first = Batch(11, "orders");
        fanOut.Publish(first);
        fanOut.Remove(b);
        var second = Batch(12, "orders", "users");
        fanOut.Publish(second);

        Assert.Equal([first, second], a.Offered);
        Assert.Equal([first], b.Offered);
        Assert.Equal(1, fanOut.ListenerCount);
        Assert.Equal(13, fanOut.Head);
    }

    [Fact]
    public async Task A_long_poll_waits_until_the_head_passes_its_position()
    {
        var fanOut = new FanOut();
        fanOut.Start(5);
        var waiting = fanOut.WaitPastAsync(6, CancellationToken.None);

        fanOut.Publish(Batch(6, "orders"));
        Assert.False(waiting.IsCompleted);
        fanOut.Publish(Batch(7, "orders"));

        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(fanOut.WaitPastAsync(6, CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task A_long_poll_ends_when_its_token_fires()
    {
        var fanOut = new FanOut();
        using var cancel = new CancellationTokenSource();
        var waiting = fanOut.WaitPastAsync(0, cancel.Token);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Jumping_over_changes_never_offered_sends_every_listener_back_to_the_store()
    {
        var fanOut = new FanOut();
        fanOut.Start(3);
        var listener = new RecordingListener();
        fanOut.Add(listener);

        fanOut.Jump(50);
        fanOut.Jump(20);

        Assert.Equal(2, listener.Overflows);
        Assert.Empty(listener.Offered);
        Assert.Equal(50, fanOut.Head);
    }

    [Fact]
    public async Task Committed_batches_reach_listeners_in_seq_order_naming_the_collections_they_touch()
    {
        await using var rig = await EngineRig.StartAsync(run: false);
        var listener = new RecordingListener();
        rig.FanOut.Add(listener);
        // One batch writing two collections, then one writing only the first.
        var both = new[]
        {
            new WriteRequest([new PutOp("orders", "o1", new JsonObject())], null, null),
            new WriteRequest([new PutOp("users", "u1", new JsonObject())], null, null),
        };
        foreach (var request in both)
        {
            Assert.True(rig.Sequencer.TryEnqueue(request));
        }
        rig.Run();
        await Task.WhenAll(both.Select(r => r.Completion));
        await rig.PutAsync("orders", "o2", new JsonObject());

        Assert.Collection(listener.Offered,
            batch =>
            {
                Assert.Equal(new HashSet<string>(["orders", "users"]), batch.Collections);
                Assert.Equal(2, batch.Head);
            },
            batch =>
            {
                Assert.Equal(new HashSet<string>(["orders"]), batch.Collections);
                Assert.Equal([3L], batch.Changes.Select(c => c.Seq));
            });
        Assert.Equal(3, rig.FanOut.Head);
    }

    [Fact]
    public async Task A_write_is_answered_only_after_its_change_was_offered()
    {
        await using var rig = await EngineRig.StartAsync();
        var request = new WriteRequest([new PutOp("orders", "o1", new JsonObject())], null, null);
        var listener = new AnswerCheckingListener(request);
        rig.FanOut.Add(listener);

        Assert.True(rig.Sequencer.TryEnqueue(request));
        var result = await request.Completion;

        Assert.Equal(1, result.Seq);
        Assert.Equal([false], listener.AnsweredWhenOffered);
    }

    /// <summary>Notes, when offered a batch, whether the write that made it had already been answered.</summary>
    private sealed class AnswerCheckingListener(WriteRequest request) : IChangeListener
    {
        public List<bool> AnsweredWhenOffered { get; } = [];

        public bool Offer(ChangeBatch batch)
        {
            AnsweredWhenOffered.Add(request.Completion.IsCompleted);
            return false;
        }

        public void Deliver()
        {
        }

        public void Overflow()
        {
        }
    }
}
