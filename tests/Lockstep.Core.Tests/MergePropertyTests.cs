using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;
using static Lockstep.Core.Tests.Json;

namespace Lockstep.Core.Tests;

public sealed class MergePropertyTests
{
    [Property(MaxTest = 200)]
    public Property Increments_commute() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(-50, 50), 8).SelectMany(list => Gen.Shuffle(list.ToArray()).Select(shuffled => (list, shuffled)))), pair =>
        {
            static decimal Run(IEnumerable<int> amounts)
            {
                StoredDocument? current = null;
                foreach (var by in amounts)
                {
                    current = Stored(Applied(current, new IncOp("c", "d", "n", by)));
                }
                return current is null ? 0 : (decimal)JsonNode.Parse(current.Json!)!["n"]!.GetValue<long>();
            }
            return Run(pair.list) == Run(pair.shuffled) && Run(pair.list) == pair.list.Sum();
        });

    [Property(MaxTest = 200)]
    public Property Patches_to_different_fields_both_survive_in_either_order() =>
        Prop.ForAll(Generators.Documents(), Arb.From(Gen.Choose(0, 1000)), (start, value) =>
        {
            var current = Doc(start.ToJsonString());
            var p1 = Patch("left", JsonValue.Create(value));
            var p2 = Patch("right", JsonValue.Create(-value));
            var ab = Applied(Stored(Applied(current, p1)), p2).Document!;
            var ba = Applied(Stored(Applied(current, p2)), p1).Document!;
            return (int)ab["left"]! == value && (int)ab["right"]! == -value && JsonNode.DeepEquals(ab["left"], ba["left"]) && JsonNode.DeepEquals(ab["right"], ba["right"]);
        });

    [Fact]
    public void Patches_to_the_same_field_leave_the_later_one()
    {
        var first = Applied(Doc("""{"f":0}"""), Patch("f", JsonValue.Create("first")));
        var second = Applied(Stored(first), Patch("f", JsonValue.Create("second")));
        Assert.Equal("second", (string?)second.Document!["f"]);
    }

    [Property(MaxTest = 100)]
    public Property Versions_increase_by_one_with_every_write() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(0, 3), 12)), kinds =>
        {
            StoredDocument? current = null;
            long expected = 0;
            foreach (var kind in kinds)
            {
                DocumentOp op = kind switch
                {
                    0 => new PutOp("c", "d", Obj("""{"p":1}""")),
                    1 => Patch("q", JsonValue.Create(kind)),
                    2 => new IncOp("c", "d", "n", 1),
                    _ => new DeleteOp("c", "d"),
                };
                var (write, rejection) = DocumentWriter.Apply(current, op, ConflictPolicy.Lww);
                if (rejection is not null)
                {
                    // only deleting what is not there may fail
                    if (op is not DeleteOp || current is { Deleted: false })
                    {
                        return false;
                    }
                    continue;
                }
                if (write!.Version != ++expected)
                {
                    return false;
                }
                current = Stored(write);
            }
            return true;
        });
}
