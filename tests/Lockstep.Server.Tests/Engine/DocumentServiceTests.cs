using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The document service without Kestrel, over a real SQLite file: what a caller may read, list and write.</summary>
public sealed class DocumentServiceTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_caller_the_read_rules_deny_is_refused_forbidden_for_a_document_and_a_listing()
    {
        await using var rig = await EngineRig.StartAsync(o => o.Collections["payroll"] = ServiceRig.ForRole("hr"));
        Assert.True((await rig.PutAsync("payroll", "p1", new JsonObject { ["salary"] = 1 })).Succeeded);
        var documents = ServiceRig.Documents(rig);
        var clerk = ServiceRig.User("clerk");

        Assert.True((await documents.GetAsync(clerk, "payroll", "p1", None)).IsRefused(out var refusal));
        Assert.Equal(ErrorCodes.Forbidden, refusal.Error);
        Assert.True((await documents.ListAsync(clerk, "payroll", Filter.All, 10, null, None)).IsRefused(out refusal));
        Assert.Equal(ErrorCodes.Forbidden, refusal.Error);
        Assert.Equal("{\"salary\":1}", (await documents.GetAsync(ServiceRig.User("boss", "hr"), "payroll", "p1", None)).Value.Json);
    }

    [Fact]
    public async Task A_missing_document_and_another_owners_document_are_both_not_found()
    {
        await using var rig = await EngineRig.StartAsync(o => o.Collections["notes"] = ServiceRig.Owned());
        Assert.True((await rig.PutAsync("notes", "n1", new JsonObject { ["ownerId"] = "alice", ["text"] = "hi" })).Succeeded);
        var documents = ServiceRig.Documents(rig);

        Assert.True((await documents.GetAsync(ServiceRig.User("bob"), "notes", "n1", None)).IsRefused(out var others));
        Assert.True((await documents.GetAsync(ServiceRig.User("alice"), "notes", "n2", None)).IsRefused(out var missing));
        Assert.Equal(ErrorCodes.NotFound, others.Error);
        Assert.Equal(ErrorCodes.NotFound, missing.Error);
        Assert.Equal("notes/n1 does not exist.", others.Message); // the same words as a missing one: nothing to tell them apart
        var mine = (await documents.GetAsync(ServiceRig.User("alice"), "notes", "n1", None)).Value;
        Assert.Equal(1, mine.Version);
    }

    [Fact]
    public async Task A_listing_under_an_owner_rule_shows_the_callers_documents_and_no_next_when_only_others_follow()
    {
        await using var rig = await EngineRig.StartAsync(o => o.Collections["notes"] = ServiceRig.Owned());
        foreach (var (id, owner) in new[] { ("a", "alice"), ("b", "bob"), ("c", "alice"), ("d", "bob"), ("e", "bob") })
        {
            Assert.True((await rig.PutAsync("notes", id, new JsonObject { ["ownerId"] = owner })).Succeeded);
        }
        var documents = ServiceRig.Documents(rig);

        var first = (await documents.ListAsync(ServiceRig.User("alice"), "notes", Filter.All, 1, null, None)).Value;
        Assert.Equal(["a"], first.Documents.Select(d => d.Id));
        Assert.Equal("a", first.Next);
        var last = (await documents.ListAsync(ServiceRig.User("alice"), "notes", Filter.All, 1, first.Next, None)).Value;
        Assert.Equal(["c"], last.Documents.Select(d => d.Id));
        Assert.Null(last.Next); // bob's d and e follow, which is not alice's to know
        Assert.Equal(5, last.Head);
    }

    [Fact]
    public async Task A_write_at_a_stale_version_is_a_version_conflict_that_writes_nothing()
    {
        await using var rig = await EngineRig.StartAsync();
        var documents = ServiceRig.Documents(rig);
        var caller = ServiceRig.User("alice");
        var created = await documents.WriteAsync(caller, new PutOp("todos", "t1", new JsonObject { ["n"] = 1 }), null, null, None);
        Assert.True(created.Succeeded);
        Assert.Equal(1, created.Results[0].Version);

        var stale = await documents.WriteAsync(caller, new PutOp("todos", "t1", new JsonObject { ["n"] = 2 }) { IfVersion = 7 }, null, null, None);

        Assert.Equal(ErrorCodes.VersionConflict, stale.Rejection!.Error);
        Assert.Equal(1, stale.Rejection.Current!.Version);
        var stored = (await documents.GetAsync(caller, "todos", "t1", None)).Value;
        Assert.Equal((1L, "{\"n\":1}"), (stored.Version, stored.Json));
    }

    [Fact]
    public async Task A_write_the_write_rules_deny_is_forbidden()
    {
        await using var rig = await EngineRig.StartAsync(o => o.Collections["notes"] = ServiceRig.Owned());
        var documents = ServiceRig.Documents(rig);

        var result = await documents.WriteAsync(ServiceRig.User("bob"), new PutOp("notes", "n1", new JsonObject { ["ownerId"] = "alice" }), null, null, None);

        Assert.Equal(ErrorCodes.Forbidden, result.Rejection!.Error);
        Assert.True((await documents.GetAsync(ServiceRig.User("alice"), "notes", "n1", None)).IsRefused(out var refusal));
        Assert.Equal(ErrorCodes.NotFound, refusal.Error);
    }
}
