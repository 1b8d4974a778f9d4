using System.Globalization;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>One operation of a mutation: build with <see cref="Put"/>, <see cref="Patch"/>, <see cref="Increment"/> or <see cref="Delete"/>.</summary>
public sealed class WriteOp
{
    private WriteOp(DocumentOp op, MutationOp wire)
    {
        Op = op;
        Wire = wire;
    }

    /// <summary>The op for the local view.</summary>
    internal DocumentOp Op { get; }

    /// <summary>The op as a <c>mut</c> carries it.</summary>
    internal MutationOp Wire { get; }

    /// <summary>Replaces (or creates) a whole document.</summary>
    public static WriteOp Put(string collection, string id, JsonObject document, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        return Make(new PutOp(collection, id, (JsonObject)document.DeepClone()) { IfVersion = ifVersion },
            new MutationOp(OpKind.Put, collection, id) { IfVersion = ifVersion, Doc = Json(document) });
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
        return Make(new PatchOp(collection, id, [.. set.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone()))], unset ?? []) { IfVersion = ifVersion },
            new MutationOp(OpKind.Patch, collection, id) { IfVersion = ifVersion, Set = Json(setObject), Unset = unset is { Count: > 0 } ? [.. unset] : null });
    }

    /// <summary>Adds to a numeric field (a missing one counts as 0).</summary>
    public static WriteOp Increment(string collection, string id, string path, decimal by, long? ifVersion = null) =>
        Make(new IncOp(collection, id, path, by) { IfVersion = ifVersion },
            new MutationOp(OpKind.Inc, collection, id) { IfVersion = ifVersion, Path = path, By = Json(JsonValue.Create(by)) });

    /// <summary>Deletes a document.</summary>
    public static WriteOp Delete(string collection, string id, long? ifVersion = null) =>
        Make(new DeleteOp(collection, id) { IfVersion = ifVersion }, new MutationOp(OpKind.Delete, collection, id) { IfVersion = ifVersion });

    /// <summary>Reads an op back from its wire form (a restored queue entry); null when it is not one this client writes.</summary>
    internal static DocumentOp? Parse(MutationOp op)
    {
        DocumentOp? parsed = op.Kind switch
        {
            OpKind.Put when Parse(op.Doc) is JsonObject doc => new PutOp(op.Collection, op.Id, doc),
            OpKind.Patch => new PatchOp(op.Collection, op.Id,
                [.. (Parse(op.Set) as JsonObject ?? []).Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone()))],
                op.Unset ?? []),
            OpKind.Inc when op.Path is { } path && op.By is { } by
                && decimal.TryParse(by.Json, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) => new IncOp(op.Collection, op.Id, path, amount),
            OpKind.Delete => new DeleteOp(op.Collection, op.Id),
            _ => null,
        };
        return parsed is null ? null : parsed with { IfVersion = op.IfVersion };
    }

    private static JsonNode? Parse(RawJson? value) => value is { } raw ? JsonNode.Parse(raw.Json) : null;

    private static RawJson Json(JsonNode node) => new(node.ToJsonString());

    private static WriteOp Make(DocumentOp op, MutationOp wire)
    {
        if (!Names.IsValidCollection(op.Collection) || !Names.IsValidId(op.Id))
        {
            throw new ArgumentException($"'{op.Collection}/{op.Id}' is not a valid collection name and document id.");
        }
        return new WriteOp(op, wire);
    }
}
