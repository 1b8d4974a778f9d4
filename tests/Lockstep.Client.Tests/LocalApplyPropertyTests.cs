using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Lockstep.Core;
using Lockstep.Core.Tests;

namespace Lockstep.Client.Tests;

/// <summary>The optimistic view must predict the server: for every op the server accepts, applying it locally gives the server's document.</summary>
public sealed class LocalApplyPropertyTests
{
    private static readonly string[] Paths = ["a", "b", "title", "n", "x.y", "a.b", "n.m.k"];

    private static Gen<DocumentOp> Ops() => Gen.OneOf(
        Generators.Object(2).Select(doc => (DocumentOp)new PutOp("c", "d", doc)),
        Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(Gen.Elements(Paths).SelectMany(p => Generators.Leaf().Select(v => new KeyValuePair<string, JsonNode?>(p, v))), n))
            .SelectMany(set => Gen.Choose(0, 2).SelectMany(n => Gen.ListOf(Gen.Elements(Paths), n))
                .Select(unset => (DocumentOp)new PatchOp("c", "d", [.. set.DistinctBy(p => p.Key)], [.. unset.Distinct()]))),
        Gen.Elements(Paths).SelectMany(p => Gen.Choose(-5, 5).Select(by => (DocumentOp)new IncOp("c", "d", p, by))),
        Gen.Constant((DocumentOp)new DeleteOp("c", "d")));

    [Property(MaxTest = 500)]
    public Property Applying_an_op_locally_gives_what_the_server_writes() =>
        Prop.ForAll(Arb.From(Generators.Object(2).SelectMany(doc => Ops().Select(op => (doc, op)))), pair =>
        {
            var (doc, op) = pair;
            var stored = new StoredDocument("c", "d", 3, 10, false, doc.ToJsonString(), default);
            var (write, rejection) = DocumentWriter.Apply(stored, op, ConflictPolicy.Lww);
            if (rejection is not null)
            {
                return true; // refused writes leave the view when refused; nothing to predict
            }
            var local = LocalApply.Apply((JsonObject)doc.DeepClone(), op);
            return write!.Deleted ? local is null : JsonNode.DeepEquals(local, write.Document);
        });

    [Property(MaxTest = 200)]
    public Property Pending_increments_on_top_of_any_confirmed_value_sum_like_the_server() =>
        Prop.ForAll(Arb.From(Gen.Choose(-100, 100).SelectMany(start => Gen.ListOf(Gen.Choose(-9, 9), 6).Select(incs => (start, incs)))), pair =>
        {
            JsonObject? local = new() { ["n"] = pair.start };
            foreach (var by in pair.incs)
            {
                local = LocalApply.Apply(local, new IncOp("c", "d", "n", by));
            }
            return (long?)local?["n"] == pair.start + pair.incs.Sum();
        });
}
