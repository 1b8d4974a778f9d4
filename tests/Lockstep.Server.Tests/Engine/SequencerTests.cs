using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The sequencer alone, over a real SQLite file: batching, order, refusals as values, replays.</summary>
public sealed class SequencerTests
{
    private static JsonObject Doc(int n) => new() { ["n"] = n };

    private static WriteRequest Put(string collection, string id, int n, string? clientId = null, long? mutationNo = null, long? ifVersion = null) =>
        new([new PutOp(collection, id, Doc(n)) { IfVersion = ifVersion }], clientId, mutationNo);

    private static async Task<IReadOnlyList<Change>> ChangesAsync(Lockstep.Storage.Sqlite.SqliteChangeStore store)
    {
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        return await reader.ReadChangesAsync(0, null, 1000, CancellationToken.None);
    }

    [Fact]
    public async Task Writes_waiting_together_commit_as_one_batch_in_the_order_they_were_queued()
    {
        await using var rig = await EngineRig.StartAsync(run: false);
        var requests = Enumerable.Range(1, 5).Select(i => Put("orders", "o" + i, i)).ToList();
        foreach (var request in requests)
        {
            Assert.True(rig.Sequencer.TryEnqueue(request));
        }
        rig.Run();
        var results = await Task.WhenAll(requests.Select(r => r.Completion));

        Assert.All(results, r => Assert.True(r.Succeeded));
        Assert.Equal([1L, 2, 3, 4, 5], results.Select(r => r.Seq));
        var batch = Assert.Single(rig.Commits.Batches);
        Assert.Equal(5, batch.Head);
        Assert.Equal(["o1", "o2", "o3", "o4", "o5"], batch.Changes!.Changes.Select(c => c.Id));
        Assert.Equal(5, rig.FanOut.Head);
        Assert.Equal([1L, 2, 3, 4, 5], (await ChangesAsync(rig.Store)).Select(c => c.Seq));
    }

    [Fact]
    public async Task Writes_that_arrive_while_the_write_transaction_waits_to_begin_join_its_batch()
    {
        await using var rig = await EngineRig.StartAsync();
        // Another writer holds the store (on a shared store: another node holding the log lock).
        var other = await rig.Store.BeginWriteAsync(CancellationToken.None);
        var first = Put("orders", "o1", 1);
        Assert.True(rig.Sequencer.TryEnqueue(first));
        // The loop has taken the signal and waits to begin; these arrive during the wait.
        await Task.Delay(200);
        var later = Enumerable.Range(2, 4).Select(i => Put("orders", "o" + i, i)).ToList();
        foreach (var request in later)
        {
            Assert.True(rig.Sequencer.TryEnqueue(request));
        }
        await other.DisposeAsync();
        var results = await Task.WhenAll(later.Prepend(first).Select(r => r.Completion));

        Assert.Equal([1L, 2, 3, 4, 5], results.Select(r => r.Seq));
        var batch = Assert.Single(rig.Commits.Batches);
        Assert.Equal(["o1", "o2", "o3", "o4", "o5"], batch.Changes!.Changes.Select(c => c.Id));
    }

    [Fact]
    public async Task A_batch_takes_at_most_MaxBatchMutations_and_seqs_continue_without_a_gap_across_batches()
    {
        await using var rig = await EngineRig.StartAsync(o => o.MaxBatchMutations = 2, run: false);
        var requests = Enumerable.Range(1, 5).Select(i => Put("orders", "o" + i, i)).ToList();
        foreach (var request in requests)
        {
            Assert.True(rig.Sequencer.TryEnqueue(request));
        }
        rig.Run();
        await Task.WhenAll(requests.Select(r => r.Completion));

        Assert.Equal([2, 2, 1], rig.Commits.Batches.Select(b => b.Changes!.Changes.Count));
        Assert.Equal([2L, 4, 5], rig.Commits.Batches.Select(b => b.Head));
        Assert.Equal([1L, 2, 3, 4, 5], (await ChangesAsync(rig.Store)).Select(c => c.Seq));
    }

    [Fact]
    public async Task A_refused_write_is_a_result_value_and_costs_only_itself_in_its_batch()
    {
        await using var rig = await EngineRig.StartAsync(run: false);
        var before = Put("orders", "a", 1);
        var stale = Put("orders", "b", 2, ifVersion: 7);
        var after = Put("orders", "c", 3);
        foreach (var request in new[] { before, stale, after })
        {
            Assert.True(rig.Sequencer.TryEnqueue(request));
        }
        rig.Run();

        var refused = await stale.Completion;
        Assert.False(refused.Succeeded);
        Assert.Equal(ErrorCodes.VersionConflict, refused.Rejection!.Error);
        Assert.Equal(0, refused.Rejection.OpIndex);
        Assert.Equal(1, (await before.Completion).Seq);
        Assert.Equal(2, (await after.Completion).Seq);
        Assert.Equal(["a", "c"], (await ChangesAsync(rig.Store)).Select(c => c.Id));
    }

    [Fact]
    public async Task An_op_refused_in_a_mutation_of_several_ops_writes_none_of_them()
    {
        await using var rig = await EngineRig.StartAsync();
        var result = await rig.Sequencer.SubmitAsync(new WriteRequest(
            [new PutOp("orders", "x", Doc(1)), new PutOp("orders", "y", Doc(2)) { IfVersion = 3 }], null, null), CancellationToken.None);

        Assert.Equal(ErrorCodes.VersionConflict, result.Rejection!.Error);
        Assert.Equal(1, result.Rejection.OpIndex);
        Assert.Empty(await ChangesAsync(rig.Store));
        Assert.Empty(rig.Commits.Batches);
        Assert.Equal(0, rig.FanOut.Head);
    }

    [Fact]
    public async Task A_numbered_mutation_replayed_in_the_same_batch_or_a_later_one_is_applied_once_and_answers_as_the_first_time()
    {
        await using var rig = await EngineRig.StartAsync(run: false);
        var first = Put("orders", "a", 1, "client-1", 1);
        var again = Put("orders", "a", 99, "client-1", 1);
        Assert.True(rig.Sequencer.TryEnqueue(first));
        Assert.True(rig.Sequencer.TryEnqueue(again));
        rig.Run();

        var original = await first.Completion;
        var replayedInBatch = await again.Completion;
        var replayedLater = await rig.Sequencer.SubmitAsync(Put("orders", "a", 42, "client-1", 1), CancellationToken.None);

        Assert.Equal(1, original.Seq);
        Assert.Equal(original.ToRecordJson(), replayedInBatch.ToRecordJson());
        Assert.Equal(original.ToRecordJson(), replayedLater.ToRecordJson());
        var change = Assert.Single(await ChangesAsync(rig.Store));
        Assert.Equal(1, (int)JsonNode.Parse(change.DocumentJson!)!["n"]!);
    }

    [Fact]
    public async Task A_refusal_is_remembered_too_so_a_replay_after_a_restart_is_refused_the_same_way()
    {
        string dir;
        string refusedJson;
        await using (var rig = await EngineRig.StartAsync())
        {
            rig.KeepData = true;
            dir = rig.Directory;
            var refused = await rig.Sequencer.SubmitAsync(Put("orders", "a", 1, "client-2", 5, ifVersion: 3), CancellationToken.None);
            Assert.Equal(ErrorCodes.VersionConflict, refused.Rejection!.Error);
            refusedJson = refused.ToRecordJson();
        }
        await using (var restarted = await EngineRig.StartAsync(dir: dir))
        {
            // The same number with a write that would now succeed: the first answer stands, nothing is written.
            var replayed = await restarted.Sequencer.SubmitAsync(Put("orders", "a", 1, "client-2", 5), CancellationToken.None);
            Assert.Equal(refusedJson, replayed.ToRecordJson());
            Assert.Empty(await ChangesAsync(restarted.Store));

            var next = await restarted.Sequencer.SubmitAsync(Put("orders", "a", 1, "client-2", 6), CancellationToken.None);
            Assert.True(next.Succeeded);
            Assert.Equal(1, next.Seq);
        }
    }

    [Fact]
    public async Task Mutators_come_from_the_options_and_from_mutator_sources_and_a_clients_call_to_a_server_mutator_is_unknown()
    {
        var serverOwn = SystemCollections.Prefix + "test.mark";
        await using var rig = await EngineRig.StartAsync(
            o => o.Mutator("reserve", async (ctx, args, ct) =>
            {
                var left = (int)((await ctx.GetAsync("stock", "s", ct))?["left"] ?? 1);
                if (left <= 0)
                {
                    throw new MutationRejectedException("out_of_stock", "Nothing left.");
                }
                await ctx.PutAsync("stock", "s", new JsonObject { ["left"] = left - 1 }, cancellationToken: ct);
                return left - 1;
            }),
            sources: [new OneMutator(serverOwn, async (ctx, _, ct) =>
            {
                await ctx.PutAsync(SystemCollections.Groups, "mark", new JsonObject(), cancellationToken: ct);
                return null;
            })]);
        var none = JsonDocument.Parse("null").RootElement;

        var reserved = await rig.Sequencer.SubmitAsync(new WriteRequest("reserve", none, null, null), CancellationToken.None);
        Assert.Equal(0, (int)reserved.Value!);
        var sold = await rig.Sequencer.SubmitAsync(new WriteRequest("reserve", none, null, null), CancellationToken.None);
        Assert.Equal(ErrorCodes.MutationRejected, sold.Rejection!.Error);
        Assert.Equal("out_of_stock", sold.Rejection.Reason);

        var unknown = await rig.Sequencer.SubmitAsync(new WriteRequest("nope", none, null, null), CancellationToken.None);
        Assert.Equal(ErrorCodes.UnknownMutator, unknown.Rejection!.Error);
        var fromClient = await rig.Sequencer.SubmitAsync(new WriteRequest(serverOwn, none, "c", null) { Caller = Caller.Anonymous }, CancellationToken.None);
        Assert.Equal(ErrorCodes.UnknownMutator, fromClient.Rejection!.Error);
        var trusted = await rig.Sequencer.SubmitAsync(new WriteRequest(serverOwn, none, null, null), CancellationToken.None);
        Assert.True(trusted.Succeeded);

        Assert.Equal(["s", "mark"], (await ChangesAsync(rig.Store)).Select(c => c.Id));
    }

    [Fact]
    public async Task An_observer_that_throws_does_not_fail_the_batch_nor_stop_the_sequencer()
    {
        await using var rig = await EngineRig.StartAsync(observers: [new ThrowingObserver()]);

        var first = await rig.PutAsync("orders", "a", Doc(1));
        var second = await rig.PutAsync("orders", "b", Doc(2));

        Assert.True(first.Succeeded);
        Assert.Equal(2, second.Seq);
        Assert.Equal(2, rig.Commits.Batches.Count);
        Assert.Equal(2, rig.FanOut.Head);
    }

    [Fact]
    public async Task A_full_queue_refuses_with_overloaded_as_a_value()
    {
        await using var rig = await EngineRig.StartAsync(o => o.MaxQueuedMutations = 1, run: false);
        Assert.True(rig.Sequencer.TryEnqueue(Put("orders", "a", 1)));

        var refused = await rig.Sequencer.SubmitAsync(Put("orders", "b", 2), CancellationToken.None);

        Assert.Equal(ErrorCodes.Overloaded, refused.Rejection!.Error);
    }

    private sealed class OneMutator(string name, Mutator mutator) : IMutatorSource
    {
        public IEnumerable<KeyValuePair<string, Mutator>> Mutators => [new(name, mutator)];
    }

    private sealed class ThrowingObserver : ICommitObserver
    {
        public void OnCommitted(CommittedBatch batch) => throw new InvalidOperationException("an observer's bug (on purpose)");
    }
}
