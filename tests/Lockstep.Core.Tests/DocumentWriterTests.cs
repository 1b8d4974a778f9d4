using System.Text.Json.Nodes;
using Lockstep.Protocol;
using Xunit;
using static Lockstep.Core.Tests.Json;

namespace Lockstep.Core.Tests;

public sealed class DocumentWriterTests
{
    [Fact]
    public void Put_creates_version_1_and_replacing_increments_the_version()
    {
        var created = Applied(null, new PutOp("c", "d", Obj("""{"a":1,"b":2}""")));
        Assert.Equal(1, created.Version);
        Assert.True(created.Created);
        var replaced = Applied(Stored(created), new PutOp("c", "d", Obj("""{"a":1,"c":3}""")));
        Assert.Equal(2, replaced.Version);
        Assert.False(replaced.Created);
        Assert.Equal(["c"], replaced.Delta.Set.Select(p => p.Key));
        Assert.Equal(["b"], replaced.Delta.Unset);
    }

    [Fact]
    public void Patch_sets_and_unsets_nested_paths_creating_intermediate_objects()
    {
        var write = Applied(Doc("""{"a":{"x":1},"gone":true}"""), new PatchOp("c", "d",
            [new("a.y", JsonValue.Create(2)), new("new.deep.field", JsonValue.Create("v"))], ["gone", "a.missing"]));
        Assert.Equal("""{"a":{"x":1,"y":2},"new":{"deep":{"field":"v"}}}""", write.Document!.ToJsonString());
        Assert.Equal(2, write.Version);
    }

    [Fact]
    public void Patch_through_a_non_object_is_an_invalid_operation()
    {
        var rejection = Rejected(Doc("""{"a":"text"}"""), Patch("a.b", JsonValue.Create(1)));
        Assert.Equal(ErrorCodes.InvalidOperation, rejection.Error);
    }

    [Fact]
    public void Patch_on_a_missing_document_creates_it()
    {
        var write = Applied(null, Patch("a", JsonValue.Create(1)));
        Assert.Equal(1, write.Version);
        Assert.True(write.Created);
        Assert.Equal("""{"a":1}""", write.Document!.ToJsonString());
    }

    [Fact]
    public void Delete_of_a_missing_document_is_not_found_and_delete_leaves_a_tombstone_whose_version_continues()
    {
        Assert.Equal(ErrorCodes.NotFound, Rejected(null, new DeleteOp("c", "d")).Error);
        var deleted = Applied(Doc("""{"a":1}""", version: 3), new DeleteOp("c", "d"));
        Assert.True(deleted.Deleted);
        Assert.Equal(4, deleted.Version);
        Assert.Equal(ErrorCodes.NotFound, Rejected(Stored(deleted), new DeleteOp("c", "d")).Error);
        var recreated = Applied(Stored(deleted), new PutOp("c", "d", Obj("""{"b":1}""")));
        Assert.Equal(5, recreated.Version);
        Assert.True(recreated.Created);
    }

    [Fact]
    public void Inc_counts_from_zero_keeps_integers_whole_and_adds_decimals_exactly()
    {
        var first = Applied(null, new IncOp("c", "d", "n", 5));
        Assert.Equal("""{"n":5}""", first.Document!.ToJsonString());
        var second = Applied(Stored(first), new IncOp("c", "d", "n", -2));
        Assert.Equal("""{"n":3}""", second.Document!.ToJsonString());
        var money = Applied(Doc("""{"m":0.1}"""), new IncOp("c", "d", "m", 0.2m));
        Assert.Equal("""{"m":0.3}""", money.Document!.ToJsonString());
        var nested = Applied(Doc("""{}"""), new IncOp("c", "d", "stats.views", 1));
        Assert.Equal("""{"stats":{"views":1}}""", nested.Document!.ToJsonString());
    }

    [Fact]
    public void Inc_on_a_non_number_is_an_invalid_operation()
    {
        Assert.Equal(ErrorCodes.InvalidOperation, Rejected(Doc("""{"n":"seven"}"""), new IncOp("c", "d", "n", 1)).Error);
    }

    [Fact]
    public void Patch_with_stale_version_returns_version_conflict_with_the_current_document()
    {
        var current = Doc("""{"a":1}""", version: 4);
        var rejection = Rejected(current, Patch("a", JsonValue.Create(2), ifVersion: 3));
        Assert.Equal(ErrorCodes.VersionConflict, rejection.Error);
        Assert.Same(current, rejection.Current);
        Assert.Equal(5, Applied(current, Patch("a", JsonValue.Create(2), ifVersion: 4)).Version);
    }

    [Fact]
    public void If_version_zero_means_the_document_must_not_exist()
    {
        Assert.Equal(1, Applied(null, new PutOp("c", "d", Obj("{}")) { IfVersion = 0 }).Version);
        Assert.Equal(ErrorCodes.VersionConflict, Rejected(Doc("{}"), new PutOp("c", "d", Obj("{}")) { IfVersion = 0 }).Error);
        Assert.Equal(4, Applied(Tombstone(3), new PutOp("c", "d", Obj("{}")) { IfVersion = 0 }).Version);
    }

    [Fact]
    public void Strict_policy_requires_if_version_on_existing_documents_but_not_to_create()
    {
        Assert.Equal(1, Applied(null, Patch("a", JsonValue.Create(1)), ConflictPolicy.Strict).Version);
        var current = Doc("""{"a":1}""", version: 2);
        Assert.Equal(ErrorCodes.PreconditionRequired, Rejected(current, Patch("a", JsonValue.Create(2)), ConflictPolicy.Strict).Error);
        Assert.Equal(ErrorCodes.VersionConflict, Rejected(current, Patch("a", JsonValue.Create(2), ifVersion: 1), ConflictPolicy.Strict).Error);
        Assert.Equal(3, Applied(current, Patch("a", JsonValue.Create(2), ifVersion: 2), ConflictPolicy.Strict).Version);
    }

    [Theory]
    [InlineData("""{"a.b":1}""")]
    [InlineData("""{"":1}""")]
    [InlineData("""{"ok":{"bad.name":1}}""")]
    [InlineData("""{"list":[{"x.y":1}]}""")]
    public void Documents_with_invalid_field_names_are_invalid(string json)
    {
        Assert.Equal(ErrorCodes.InvalidDocument, Rejected(null, new PutOp("c", "d", Obj(json))).Error);
    }

    [Fact]
    public void Documents_nested_deeper_than_32_levels_are_invalid()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", 33)) + "1" + new string('}', 33);
        Assert.Equal(ErrorCodes.InvalidDocument, Rejected(null, new PutOp("c", "d", Obj(deep))).Error);
        var ok = string.Concat(Enumerable.Repeat("{\"a\":", 31)) + "1" + new string('}', 31);
        Assert.Equal(1, Applied(null, new PutOp("c", "d", Obj(ok))).Version);
    }

    [Fact]
    public void Merge_patch_follows_rfc_7396()
    {
        // The example of RFC 7396 §3.
        var target = Doc("""{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}""");
        var patch = Obj("""{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}""");
        var write = Applied(target, new MergePatchOp("c", "d", patch));
        Assert.Equal("""{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}""",
            write.Document!.ToJsonString(LockstepJson.Options));
        var replaced = Applied(Doc("""{"a":"text"}"""), new MergePatchOp("c", "d", Obj("""{"a":{"b":1}}""")));
        Assert.Equal("""{"a":{"b":1}}""", replaced.Document!.ToJsonString());
    }
}
