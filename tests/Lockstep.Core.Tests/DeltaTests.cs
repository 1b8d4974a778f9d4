using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Lockstep.Core.Tests;

public sealed class DeltaTests
{
    [Property(MaxTest = 300)]
    public Property Applying_the_delta_of_a_to_b_onto_a_gives_b() =>
        Prop.ForAll(Generators.DocumentPairs(), pair =>
        {
            var (a, b) = pair;
            var delta = Delta.Compute(a, b);
            var copy = (JsonObject)a.DeepClone();
            delta.ApplyTo(copy);
            return JsonNode.DeepEquals(copy, b);
        });

    [Property(MaxTest = 200)]
    public Property The_delta_survives_its_json_round_trip() =>
        Prop.ForAll(Generators.DocumentPairs(), pair =>
        {
            var (a, b) = pair;
            var delta = Delta.Compute(a, b);
            var parsed = Delta.Parse(delta.SetJson(), delta.UnsetJson());
            var copy = (JsonObject)a.DeepClone();
            parsed.ApplyTo(copy);
            return JsonNode.DeepEquals(copy, b);
        });

    [Property(MaxTest = 200)]
    public Property A_document_compared_with_itself_has_an_empty_delta() =>
        Prop.ForAll(Generators.Documents(), a => Delta.Compute(a, (JsonObject)a.DeepClone()).IsEmpty);

    [Fact]
    public void A_one_field_change_yields_exactly_that_path_and_nested_changes_yield_dotted_paths()
    {
        var before = Json.Obj("""{"title":"a","owner":{"name":"Ana","team":"x"},"n":1}""");
        var after = Json.Obj("""{"title":"a","owner":{"name":"Bo","team":"x"},"n":1}""");
        var delta = Delta.Compute(before, after);
        Assert.Equal("""{"owner.name":"Bo"}""", delta.SetJson());
        Assert.Null(delta.UnsetJson());
        var removed = Delta.Compute(after, Json.Obj("""{"title":"a","owner":{"team":"x"}}"""));
        Assert.Equal("""{}""", removed.SetJson());
        Assert.Equal("""["owner.name","n"]""", removed.UnsetJson());
    }

    [Fact]
    public void An_object_replaced_by_a_scalar_is_set_whole()
    {
        var delta = Delta.Compute(Json.Obj("""{"a":{"b":1}}"""), Json.Obj("""{"a":5}"""));
        Assert.Equal("""{"a":5}""", delta.SetJson());
    }
}
