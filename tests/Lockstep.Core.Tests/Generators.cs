using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;

namespace Lockstep.Core.Tests;

/// <summary>Random JSON documents with valid field names, for property tests.</summary>
internal static class Generators
{
    private static readonly string[] FieldNames = ["a", "b", "c", "title", "n", "tags", "x", "y"];

    public static Gen<JsonNode?> Leaf() => Gen.OneOf(
        Gen.Choose(-1000, 1000).Select(i => (JsonNode?)JsonValue.Create(i)),
        Gen.Elements("", "x", "hello", "ünïcode").Select(s => (JsonNode?)JsonValue.Create(s)),
        Gen.Elements(true, false).Select(b => (JsonNode?)JsonValue.Create(b)),
        Gen.Constant((JsonNode?)null),
        Gen.Choose(0, 3).SelectMany(n => Gen.ListOf(Gen.Choose(0, 9), n)).Select(list => (JsonNode?)new JsonArray([.. list.Select(i => (JsonNode?)JsonValue.Create(i))])));

    public static Gen<JsonObject> Object(int depth) =>
        Gen.Choose(0, 5).SelectMany(count =>
            Gen.ListOf(
                Gen.Elements(FieldNames).SelectMany(name =>
                    (depth > 0 ? Gen.Frequency((3, Leaf()), (1, Object(depth - 1).Select(o => (JsonNode?)o))) : Leaf())
                        .Select(value => (name, value))),
                count))
        .Select(fields =>
        {
            var obj = new JsonObject();
            foreach (var (name, value) in fields)
            {
                obj[name] = value;
            }
            return obj;
        });

    public static Arbitrary<JsonObject> Documents() => Arb.From(Object(2));

    public static Arbitrary<(JsonObject, JsonObject)> DocumentPairs() => Arb.From(Object(2).SelectMany(a => Object(2).Select(b => (a, b))));
}
