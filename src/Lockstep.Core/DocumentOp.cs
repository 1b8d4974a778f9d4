using System.Text.Json.Nodes;

namespace Lockstep.Core;

/// <summary>One write operation on one document. A mutation is an atomic batch of these.</summary>
public abstract record DocumentOp(string Collection, string Id)
{
    /// <summary>
    /// When set, the write applies only if the document's current version equals it; 0 means
    /// "the document must not exist (or be deleted)".
    /// </summary>
    public long? IfVersion { get; init; }

    /// <summary>The operation's wire name: put, patch, delete or inc.</summary>
    public abstract string Name { get; }
}

/// <summary>Replaces (or creates) the whole document.</summary>
public sealed record PutOp(string Collection, string Id, JsonObject Document) : DocumentOp(Collection, Id)
{
    /// <inheritdoc />
    public override string Name => "put";
}

/// <summary>Sets and unsets field paths (dotted, nested objects created as needed); creates the document if missing.</summary>
public sealed record PatchOp(string Collection, string Id, IReadOnlyList<KeyValuePair<string, JsonNode?>> Set, IReadOnlyList<string> Unset)
    : DocumentOp(Collection, Id)
{
    /// <inheritdoc />
    public override string Name => "patch";
}

/// <summary>Deletes the document, leaving a tombstone.</summary>
public sealed record DeleteOp(string Collection, string Id) : DocumentOp(Collection, Id)
{
    /// <inheritdoc />
    public override string Name => "delete";
}

/// <summary>Adds a number to a numeric field (a missing field counts as 0). Increments commute.</summary>
public sealed record IncOp(string Collection, string Id, string Path, decimal By) : DocumentOp(Collection, Id)
{
    /// <inheritdoc />
    public override string Name => "inc";
}

/// <summary>Applies a JSON Merge Patch (RFC 7396) to the document, creating it if missing: null removes a field, objects merge, anything else replaces.</summary>
public sealed record MergePatchOp(string Collection, string Id, JsonObject Patch) : DocumentOp(Collection, Id)
{
    /// <inheritdoc />
    public override string Name => "merge";
}
