using Lockstep.Core;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>A session stream's inbox and the requests' budget, as units: what is queued, in which order, and when it overflows.</summary>
public sealed class StreamInboxTests : IDisposable
{
    private readonly EngineMetrics _metrics = new();

    public void Dispose() => _metrics.Dispose();

    private static ChangeBatch Batch(long head, string collection, int changes = 1) =>
        new([.. Enumerable.Range(0, changes).Select(i => new Change { Seq = head - changes + 1 + i, Collection = collection, Id = "d" + i, Version = 1, SetJson = "{}" })], head);

    private static async Task<List<object>> DrainAsync(StreamInbox inbox)
    {
        inbox.Complete();
        var items = new List<object>();
        await foreach (var item in inbox.ReadAllAsync(CancellationToken.None))
        {
            items.Add(item);
        }
        return items;
    }

    [Fact]
    public async Task Batches_of_the_streams_collections_queue_in_order_with_the_commands_and_others_are_left_out()
    {
        var inbox = new StreamInbox(new LockstepOptions(), _metrics) { Collections = new HashSet<string>(["tasks"]) };
        var tick = new object();
        inbox.Offer(Batch(1, "tasks"));
        inbox.Offer(Batch(2, "other"));
        inbox.Enqueue(tick);
        inbox.Offer(Batch(3, "tasks"));
        var items = await DrainAsync(inbox);
        Assert.Equal(3, items.Count);
        Assert.Equal([1L, 3L], items.OfType<ChangeBatch>().Select(b => b.Head));
        Assert.Same(tick, items[1]);
    }

    [Fact]
    public async Task Past_its_bound_it_overflows_once_and_takes_nothing_until_the_stream_caught_up()
    {
        var inbox = new StreamInbox(new LockstepOptions { SendBufferChanges = 3 }, _metrics) { Collections = new HashSet<string>(["tasks"]) };
        inbox.Offer(Batch(2, "tasks", changes: 2));
        inbox.Offer(Batch(4, "tasks", changes: 2)); // 4 > 3: overflow
        inbox.Offer(Batch(5, "tasks"));             // refused while overflowed
        Assert.True(inbox.Overflowed);
        inbox.Overflow();                           // a second overflow queues nothing more
        var items = await DrainAsync(inbox);
        Assert.Equal(2, items.Count);
        Assert.Equal(2, Assert.IsType<ChangeBatch>(items[0]).Head);
        Assert.IsType<OverflowCommand>(items[1]);
    }

    [Fact]
    public async Task One_batch_larger_than_the_whole_buffer_is_taken_when_nothing_else_waits()
    {
        var inbox = new StreamInbox(new LockstepOptions { SendBufferChanges = 3 }, _metrics) { Collections = new HashSet<string>(["tasks"]) };
        inbox.Offer(Batch(10, "tasks", changes: 10));
        Assert.False(inbox.Overflowed);
        var first = Assert.IsType<ChangeBatch>(Assert.Single(await DrainAsync(inbox)));
        Assert.Equal(10, first.Changes.Count);
    }

    [Fact]
    public async Task Taken_batches_no_longer_count_against_the_bound()
    {
        var inbox = new StreamInbox(new LockstepOptions { SendBufferChanges = 3 }, _metrics) { Collections = new HashSet<string>(["tasks"]) };
        var batch = Batch(2, "tasks", changes: 2);
        inbox.Offer(batch);
        inbox.Dequeued(batch);
        inbox.Offer(Batch(4, "tasks", changes: 2));
        Assert.False(inbox.Overflowed);
        Assert.Equal(2, (await DrainAsync(inbox)).Count);
    }

    [Fact]
    public async Task The_request_budget_counts_pending_filters_with_held_ones_and_gives_back_what_was_handled()
    {
        using var budget = new RequestBudget(maxFilterBytes: 100);
        budget.Hold(60);
        Assert.True(budget.TryReserveFilter(30));
        Assert.False(budget.TryReserveFilter(20)); // 60 held + 30 pending + 20 > 100
        await budget.WaitSlotAsync(CancellationToken.None);
        budget.Handled(30);
        Assert.True(budget.TryReserveFilter(40));
        // The slots bound how many requests wait: the 17th waits for one to be handled.
        for (var i = 0; i < RequestBudget.Slots; i++)
        {
            await budget.WaitSlotAsync(CancellationToken.None);
        }
        var blocked = budget.WaitSlotAsync(CancellationToken.None);
        Assert.False(blocked.IsCompleted);
        budget.Handled(0);
        await blocked.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
