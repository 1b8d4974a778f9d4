using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Outbox;

/// <summary>
/// One operation of an outbox mutation, in the protocol's op format (docs/protocol.md §5): build with
/// <see cref="Put"/>, <see cref="Patch"/>, <see cref="Increment"/> or <see cref="Delete"/>. It is the protocol's
/// <see cref="MutationOp"/>, spelled by <see cref="MutationBodies"/> as the outbox stores it.
/// </summary>
public sealed class OutboxOp
{
    private readonly string _json;

    private OutboxOp(MutationOp op)
    {
        Op = op;
        _json = MutationBodies.WriteOp(op);
    }

    /// <summary>The op as the protocol's record.</summary>
    internal MutationOp Op { get; }

    /// <summary>Replaces (or creates) a whole document.</summary>
    public static OutboxOp Put(string collection, string id, JsonObject document, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        return new(Checked(OpKind.Put, collection, id, ifVersion) with { Doc = new RawJson(document.ToJsonString()) });
    }

    /// <summary>Sets fields (dotted paths) and removes others; creates the document if missing.</summary>
    public static OutboxOp Patch(string collection, string id, IReadOnlyDictionary<string, JsonNode?> set, IReadOnlyList<string>? unset = null, long? ifVersion = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Count == 0 && unset is not { Count: > 0 })
        {
            throw new ArgumentException("A patch sets or unsets at least one field.", nameof(set));
        }
        var op = Checked(OpKind.Patch, collection, id, ifVersion);
        var paths = new JsonObject();
        foreach (var (path, value) in set)
        {
            paths[path] = value?.DeepClone();
        }
        return new(op with { Set = new RawJson(paths.ToJsonString()), Unset = unset is { Count: > 0 } ? [.. unset] : null });
    }

    /// <summary>Adds <paramref name="by"/> to a numeric field (a missing one counts as 0); increments commute.</summary>
    public static OutboxOp Increment(string collection, string id, string path, decimal by, long? ifVersion = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new(Checked(OpKind.Inc, collection, id, ifVersion) with { Path = path, By = new RawJson(JsonValue.Create(by).ToJsonString()) });
    }

    /// <summary>Deletes a document (the server refuses with <c>not_found</c> when it does not exist).</summary>
    public static OutboxOp Delete(string collection, string id, long? ifVersion = null) => new(Checked(OpKind.Delete, collection, id, ifVersion));

    /// <summary>The op as the protocol's JSON object (a copy).</summary>
    public JsonObject ToJson() => JsonNode.Parse(_json)!.AsObject();

    /// <inheritdoc />
    public override string ToString() => _json;

    private static MutationOp Checked(OpKind kind, string collection, string id, long? ifVersion)
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
        return new MutationOp(kind, collection, id) { IfVersion = ifVersion };
    }
}
