using System.Text.Json.Nodes;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The consumer groups' service without Kestrel, over a real SQLite file: admission, claims, commits and reads on a caller's behalf.</summary>
public sealed class GroupServiceTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_group_needs_a_grant_of_its_own_and_full_read_access_to_its_collections()
    {
        await using var rig = await EngineRig.StartAsync(o =>
        {
            o.Auth.Groups.Clear();
            o.Auth.Groups.Add("role:consumer");
            o.Collections["notes"] = ServiceRig.Owned();
        }, sources: [new ConsumerGroupMutators()]);
        using var lifetime = new EngineLifetime();
        var groups = ServiceRig.Groups(rig, lifetime);

        var reader = await groups.ClaimAsync(ServiceRig.User("alice"), "g", "m1", ["orders"], null, null, None);
        var ownerRule = await groups.ClaimAsync(ServiceRig.User("bob", "consumer"), "g", "m1", ["notes"], null, null, None);
        var badName = groups.Admit(ServiceRig.User("bob", "consumer"), "a~b");

        Assert.True(reader.IsRefused(out var refusal));
        Assert.Equal(ErrorCodes.Forbidden, refusal.Error);
        Assert.True(ownerRule.IsRefused(out refusal));
        Assert.Equal("Consuming 'notes' needs read access to all of it.", refusal.Message);
        Assert.Equal(ErrorCodes.InvalidRequest, badName!.Error);
        Assert.Empty(rig.Commits.Batches); // nothing of the group was created
    }

    [Fact]
    public async Task A_member_is_its_callers_own_so_another_caller_cannot_commit_for_it()
    {
        await using var rig = await EngineRig.StartAsync(sources: [new ConsumerGroupMutators()]);
        Assert.True((await rig.PutAsync("orders", "o1", new JsonObject { ["n"] = 1 })).Succeeded);
        using var lifetime = new EngineLifetime();
        var groups = ServiceRig.Groups(rig, lifetime);
        var alice = ServiceRig.User("alice");

        var claim = (await groups.ClaimAsync(alice, "g", "worker", ["orders"], 1, null, None)).Value;
        var assigned = Assert.Single(claim["assigned"]!.AsArray())!;
        GroupCommit[] commits = [new((int)assigned["partition"]!, (long)assigned["epoch"]!, 1)];

        var stolen = await groups.CommitAsync(ServiceRig.User("mallory"), "g", "worker", commits, None);
        Assert.True(stolen.IsRefused(out var refusal));
        Assert.Equal(ErrorCodes.LeaseLost, refusal.Error);

        Assert.False((await groups.CommitAsync(alice, "g", "worker", commits, None)).IsRefused(out _));
        var batch = (await groups.ReadAsync(alice, "g", "worker", new Dictionary<int, long>(), 10, TimeSpan.Zero, None)).Value;
        Assert.Empty(batch.Events); // committed past o1
        Assert.Equal(batch.Head, batch.Positions[0]); // read to the head: the group's own writes since are not orders
    }

    [Fact]
    public async Task Reading_a_group_no_one_claimed_is_not_found()
    {
        await using var rig = await EngineRig.StartAsync(sources: [new ConsumerGroupMutators()]);
        using var lifetime = new EngineLifetime();
        var groups = ServiceRig.Groups(rig, lifetime);

        var outcome = await groups.ReadAsync(ServiceRig.User("alice"), "nobody", "m", new Dictionary<int, long>(), 10, TimeSpan.FromSeconds(5), None);

        Assert.True(outcome.IsRefused(out var refusal));
        Assert.Equal(ErrorCodes.NotFound, refusal.Error);
    }

    [Fact]
    public async Task A_read_with_nothing_new_waits_for_a_commit_of_the_members_partitions()
    {
        await using var rig = await EngineRig.StartAsync(sources: [new ConsumerGroupMutators()]);
        using var lifetime = new EngineLifetime();
        var groups = ServiceRig.Groups(rig, lifetime);
        var alice = ServiceRig.User("alice");
        Assert.False((await groups.ClaimAsync(alice, "g", "worker", ["orders"], 1, null, None)).IsRefused(out _));

        var waiting = groups.ReadAsync(alice, "g", "worker", new Dictionary<int, long>(), 10, TimeSpan.FromSeconds(30), None);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        Assert.True((await rig.PutAsync("orders", "o1", new JsonObject { ["n"] = 1 })).Succeeded);

        var batch = (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Value;
        Assert.Equal("o1", Assert.Single(batch.Events).Change.Id);
    }
}
