using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Outbox;

/// <summary>
/// One operation of an outbox mutation, in the protocol's op format (docs/protocol.md §5): build with
/// <see cref="Put"/>, <see cref="Patch"/>, <see cref="Increment"/> or <see cref="Delete"/>.
/// </summary>
public sealed class OutboxOp
{
    private readonly JsonObject _json;

    private OutboxOp(JsonObject json) => _json = json;

    /// <summary>Replaces (or creates) a whole document.</summary>
    public static OutboxOp Put(string collection, string id, JsonObject document, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        return Make("put", collection, id, ifVersion, json => json["doc"] = document.DeepClone());
    }

    /// <summary>Sets fields (dotted paths) and removes others; creates the document if missing.</summary>
    public static OutboxOp Patch(string collection, string id, IReadOnlyDictionary<string, JsonNode?> set, IReadOnlyList<string>? unset = null, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Count == 0 && unset is not { Count: > 0 })
        {
            throw new ArgumentException("A patch sets or unsets at least one field.", nameof(set));
        }
        return Make("patch", collection, id, ifVersion, json =>
        {
            var setObject = new JsonObject();
            foreach (var (path, value) in set)
            {
                setObject[path] = value?.DeepClone();
            }
            json["set"] = setObject;
            if (unset is { Count: > 0 })
            {
                json["unset"] = new JsonArray([.. unset.Select(u => (JsonNode?)JsonValue.Create(u))]);
            }
        });
    }

    /// <summary>Adds <paramref name="by"/> to a numeric field (a missing one counts as 0); increments commute.</summary>
    public static OutboxOp Increment(string collection, string id, string path, decimal by, long? ifVersion = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Make("inc", collection, id, ifVersion, json =>
        {
            json["path"] = path;
            json["by"] = by;
        });
    }

    /// <summary>Deletes a document (the server refuses with <c>not_found</c> when it does not exist).</summary>
    public static OutboxOp Delete(string collection, string id, long? ifVersion = null) => Make("delete", collection, id, ifVersion, static _ => { });

    /// <summary>The op as the protocol's JSON object (a copy).</summary>
    public JsonObject ToJson() => (JsonObject)_json.DeepClone();

    /// <inheritdoc />
    public override string ToString() => _json.ToJsonString();

    private static OutboxOp Make(string kind, string collection, string id, long? ifVersion, Action<JsonObject> fill)
    {
        if (!Names.IsValidCollection(collection))
        {
            throw new ArgumentException($"'{collection}' is not a valid collection name.", nameof(collection));
        }
        if (!Names.IsValidId(id))
        {
            throw new ArgumentException($"'{id}' is not a valid document id.", nameof(id));
        }
        if (ifVersion < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ifVersion), "A version is 0 (must not exist) or positive.");
        }
        var json = new JsonObject { ["op"] = kind, ["collection"] = collection, ["id"] = id };
        fill(json);
        if (ifVersion is { } v)
        {
            json["ifVersion"] = v;
        }
        return new OutboxOp(json);
    }
}
