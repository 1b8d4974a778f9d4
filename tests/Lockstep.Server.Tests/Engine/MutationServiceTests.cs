using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The mutation service without Kestrel, over a real SQLite file: batches and mutator calls on a caller's behalf.</summary>
public sealed class MutationServiceTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static async Task<IReadOnlyList<Change>> ChangesAsync(EngineRig rig)
    {
        await using var reader = await rig.Store.BeginReadAsync(None);
        return await reader.ReadChangesAsync(0, null, 1000, None);
    }

    private static void AddReserve(LockstepOptions options) =>
        options.Mutator("reserve", async (context, args, ct) =>
        {
            await context.PutAsync("stock", args.GetProperty("sku").GetString()!, new JsonObject { ["reserved"] = true }, cancellationToken: ct);
            return new JsonObject { ["ok"] = true };
        });

    [Fact]
    public async Task A_mutator_call_by_a_caller_the_rules_deny_is_forbidden_and_writes_nothing()
    {
        await using var rig = await EngineRig.StartAsync(o =>
        {
            AddReserve(o);
            o.Auth.Mutators.Clear();
            o.Auth.Mutators.Add("role:ops");
        });
        var mutations = ServiceRig.Mutations(rig);

        var denied = await mutations.CallAsync(ServiceRig.User("clerk"), "reserve", Json("{\"sku\":\"s1\"}"), null, null, None);
        Assert.Equal(ErrorCodes.Forbidden, denied.Rejection!.Error);
        Assert.Empty(await ChangesAsync(rig));

        var allowed = await mutations.CallAsync(ServiceRig.User("lead", "ops"), "reserve", Json("{\"sku\":\"s1\"}"), null, null, None);
        Assert.True(allowed.Succeeded);
        Assert.Equal("{\"ok\":true}", allowed.Value!.ToJsonString());
    }

    [Fact]
    public async Task An_unknown_mutator_and_the_servers_own_are_unknown_mutator_to_a_caller()
    {
        await using var rig = await EngineRig.StartAsync(sources: [new ConsumerGroupMutators()]);
        var mutations = ServiceRig.Mutations(rig);

        var unknown = await mutations.CallAsync(ServiceRig.User("alice"), "nope", default, null, null, None);
        var system = await mutations.CallAsync(ServiceRig.User("alice"), ConsumerGroups.LeaveMutator, Json("{\"group\":\"g\",\"member\":\"m\",\"now\":0}"), null, null, None);

        Assert.Equal(ErrorCodes.UnknownMutator, unknown.Rejection!.Error);
        Assert.Equal(ErrorCodes.UnknownMutator, system.Rejection!.Error);
        Assert.True((await mutations.CallSystemAsync(ConsumerGroups.LeaveMutator, Json("{\"group\":\"g\",\"member\":\"m\",\"now\":0}"), None)).Succeeded);
    }

    [Fact]
    public async Task A_batch_with_a_stale_version_is_a_version_conflict_at_its_op_and_nothing_of_it_is_written()
    {
        await using var rig = await EngineRig.StartAsync();
        Assert.True((await rig.PutAsync("todos", "b", new JsonObject { ["n"] = 1 })).Succeeded);
        var mutations = ServiceRig.Mutations(rig);

        var result = await mutations.ApplyAsync(ServiceRig.User("alice"), Json("""
            [{"op":"put","collection":"todos","id":"a","doc":{"n":1}},
             {"op":"put","collection":"todos","id":"b","doc":{"n":2},"ifVersion":3}]
            """), null, null, None);

        Assert.Equal(ErrorCodes.VersionConflict, result.Rejection!.Error);
        Assert.Equal(1, result.Rejection.OpIndex);
        Assert.Equal(["b"], (await ChangesAsync(rig)).Select(c => c.Id));
    }

    [Fact]
    public async Task An_invalid_batch_is_refused_before_it_is_queued()
    {
        await using var rig = await EngineRig.StartAsync(o => o.MaxOpsPerMutation = 1);
        var mutations = ServiceRig.Mutations(rig);
        var op = "{\"op\":\"delete\",\"collection\":\"todos\",\"id\":\"a\"}";

        var tooMany = await mutations.ApplyAsync(ServiceRig.User("alice"), Json($"[{op},{op}]"), null, null, None);
        var notAnOp = await mutations.ApplyAsync(ServiceRig.User("alice"), Json("[{\"op\":\"upsert\",\"collection\":\"todos\",\"id\":\"a\"}]"), null, null, None);

        Assert.Equal(ErrorCodes.InvalidRequest, tooMany.Rejection!.Error);
        Assert.Equal(ErrorCodes.InvalidRequest, notAnOp.Rejection!.Error);
        Assert.Equal(0, notAnOp.Rejection.OpIndex);
        Assert.Empty(rig.Commits.Batches);
    }

    [Fact]
    public async Task A_client_id_is_the_callers_own_so_a_replay_is_found_only_by_the_caller_that_wrote_it()
    {
        await using var rig = await EngineRig.StartAsync();
        var mutations = ServiceRig.Mutations(rig);
        IReadOnlyList<DocumentOp> Put(int n) => [new PutOp("todos", "t", new JsonObject { ["n"] = n })];

        var first = await mutations.WriteAsync(ServiceRig.User("alice"), Put(1), "phone", 1, None);
        var replay = await mutations.WriteAsync(ServiceRig.User("alice"), Put(9), "phone", 1, None);
        var another = await mutations.WriteAsync(ServiceRig.User("bob"), Put(2), "phone", 1, None);

        Assert.False(first.Duplicate);
        Assert.True(replay.Duplicate);
        Assert.Equal(first.Seq, replay.Seq);
        Assert.False(another.Duplicate);
        Assert.Equal(first.Seq + 1, another.Seq);
        Assert.Equal([1L, 2], (await ChangesAsync(rig)).Select(c => c.Version));
    }
}
