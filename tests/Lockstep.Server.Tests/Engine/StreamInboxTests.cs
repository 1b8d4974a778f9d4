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

    /// <summary>Starts the pump with a handler that keeps every item, completes the inbox and waits for the pump to end.</summary>
    private static async Task<List<object>> DrainAsync(StreamInbox inbox)
    {
        var items = new List<object>();
        inbox.Start(item =>
        {
            items.Add(item);
            return ValueTask.FromResult(true);
        });
        inbox.Complete();
        await inbox.Completion.WaitAsync(TimeSpan.FromSeconds(10));
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
    public async Task A_batch_that_wakes_the_pump_claims_its_run_for_the_caller_which_runs_it_inline()
    {
        var inbox = new StreamInbox(new LockstepOptions(), _metrics) { Collections = new HashSet<string>(["tasks"]) };
        var handled = new List<(long Head, int Thread)>();
        inbox.Start(item =>
        {
            if (item is ChangeBatch b)
            {
                inbox.Dequeued(b);
                handled.Add((b.Head, Environment.CurrentManagedThreadId));
            }
            return ValueTask.FromResult(true);
        });
        await WaitIdleAsync(inbox);

        Assert.True(inbox.Offer(Batch(1, "tasks")));   // nothing ran: this offer claimed the run
        Assert.False(inbox.Offer(Batch(2, "tasks")));  // the run is claimed already: it takes this one too
        Assert.False(inbox.Offer(Batch(3, "other")));  // not the stream's
        inbox.Deliver();
        Assert.Equal([(1L, Environment.CurrentManagedThreadId), (2L, Environment.CurrentManagedThreadId)], handled);
        Assert.True(inbox.Offer(Batch(4, "tasks")));   // idle again: the next offer claims anew
        inbox.Deliver();
        Assert.Equal(3, handled.Count);
    }

    [Fact]
    public async Task Items_from_many_threads_are_handled_in_each_threads_order_one_at_a_time()
    {
        var inbox = new StreamInbox(new LockstepOptions(), _metrics);
        var running = 0;
        var overlapped = false;
        var seen = new List<(int Producer, int N)>();
        inbox.Start(async item =>
        {
            if (Interlocked.Increment(ref running) != 1)
            {
                overlapped = true;
            }
            seen.Add(((int Producer, int N))item);
            if (seen.Count % 7 == 0)
            {
                await Task.Yield(); // some items finish off the thread that started the run
            }
            Interlocked.Decrement(ref running);
            return true;
        });
        const int perProducer = 2_000;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(p => Task.Run(() =>
        {
            for (var n = 0; n < perProducer; n++)
            {
                inbox.Enqueue((p, n));
            }
        })));
        inbox.Complete();
        await inbox.Completion.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(overlapped);
        Assert.Equal(4 * perProducer, seen.Count);
        foreach (var producer in seen.GroupBy(s => s.Producer))
        {
            Assert.Equal(Enumerable.Range(0, perProducer), producer.Select(s => s.N));
        }
    }

    [Fact]
    public async Task A_handler_that_says_stop_ends_the_pump_for_good()
    {
        var inbox = new StreamInbox(new LockstepOptions(), _metrics) { Collections = new HashSet<string>(["tasks"]) };
        var handled = 0;
        inbox.Start(_ =>
        {
            handled++;
            return ValueTask.FromResult(false);
        });
        inbox.Enqueue("first");
        await inbox.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        inbox.Enqueue("second");
        Assert.False(inbox.Offer(Batch(1, "tasks")));
        await Task.Delay(50);
        Assert.Equal(1, handled);
    }

    /// <summary>Waits until the pump started by Start has nothing left to do (it claims a run only while items wait).</summary>
    private static async Task WaitIdleAsync(StreamInbox inbox)
    {
        // Start claims a run on the thread pool only to take items queued before it; with none, it gives the claim back at once.
        for (var i = 0; i < 200 && !inbox.IsIdle; i++)
        {
            await Task.Delay(5);
        }
        Assert.True(inbox.IsIdle);
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
