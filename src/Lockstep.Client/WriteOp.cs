using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>One operation of a mutation: build with <see cref="Put"/>, <see cref="Patch"/>, <see cref="Increment"/> or <see cref="Delete"/>.</summary>
public sealed class WriteOp
{
    private WriteOp(DocumentOp op, JsonObject json)
    {
        Op = op;
        _json = json;
    }

    private readonly JsonObject _json;

    internal DocumentOp Op { get; }

    internal JsonObject ToJson() => (JsonObject)_json.DeepClone();

    /// <summary>Replaces (or creates) a whole document.</summary>
    public static WriteOp Put(string collection, string id, JsonObject document, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        return Make(new PutOp(collection, id, (JsonObject)document.DeepClone()) { IfVersion = ifVersion },
            new JsonObject { ["op"] = "put", ["doc"] = document.DeepClone() });
    }

    /// <summary>Sets fields (dotted paths) and removes others; creates the document if missing.</summary>
    public static WriteOp Patch(string collection, string id, IReadOnlyDictionary<string, JsonNode?> set, IReadOnlyList<string>? unset = null, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        var setObject = new JsonObject();
        foreach (var (path, value) in set)
        {
            setObject[path] = value?.DeepClone();
        }
        var json = new JsonObject { ["op"] = "patch", ["set"] = setObject };
        if (unset is { Count: > 0 })
        {
            json["unset"] = new JsonArray([.. unset.Select(u => (JsonNode?)JsonValue.Create(u))]);
        }
        return Make(new PatchOp(collection, id, [.. set.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone()))], unset ?? []) { IfVersion = ifVersion }, json);
    }

    /// <summary>Adds to a numeric field (a missing one counts as 0).</summary>
    public static WriteOp Increment(string collection, string id, string path, decimal by, long? ifVersion = null) =>
        Make(new IncOp(collection, id, path, by) { IfVersion = ifVersion }, new JsonObject { ["op"] = "inc", ["path"] = path, ["by"] = by });

    /// <summary>Deletes a document.</summary>
    public static WriteOp Delete(string collection, string id, long? ifVersion = null) =>
        Make(new DeleteOp(collection, id) { IfVersion = ifVersion }, new JsonObject { ["op"] = "delete" });

    /// <summary>Reads an op back from its wire form (a restored queue entry); null when it is not one this client writes.</summary>
    internal static DocumentOp? Parse(JsonObject json)
    {
        var collection = (string?)json["collection"];
        var id = (string?)json["id"];
        if (collection is null || id is null)
        {
            return null;
        }
        var ifVersion = json["ifVersion"] is JsonValue v ? (long?)v : null;
        DocumentOp? op = (string?)json["op"] switch
        {
            "put" when json["doc"] is JsonObject doc => new PutOp(collection, id, (JsonObject)doc.DeepClone()),
            "patch" => new PatchOp(collection, id,
                [.. (json["set"] as JsonObject ?? []).Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone()))],
                [.. (json["unset"] as JsonArray ?? []).Select(u => (string?)u).OfType<string>()]),
            "inc" when (string?)json["path"] is { } path && json["by"] is JsonValue by => new IncOp(collection, id, path, (decimal)by),
            "delete" => new DeleteOp(collection, id),
            _ => null,
        };
        return op is null ? null : op with { IfVersion = ifVersion };
    }

    private static WriteOp Make(DocumentOp op, JsonObject json)
    {
        if (!Names.IsValidCollection(op.Collection) || !Names.IsValidId(op.Id))
        {
            throw new ArgumentException($"'{op.Collection}/{op.Id}' is not a valid collection name and document id.");
        }
        json["collection"] = op.Collection;
        json["id"] = op.Id;
        if (op.IfVersion is { } v)
        {
            json["ifVersion"] = v;
        }
        return new WriteOp(op, json);
    }
}
