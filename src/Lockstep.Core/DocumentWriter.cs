using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Core;

/// <summary>
/// Applies one operation to the current state of one document under a collection's conflict policy.
/// Pure: no I/O, no clock. The sequencer calls it inside its write transaction.
/// </summary>
public static class DocumentWriter
{
    /// <summary>Applies <paramref name="op"/> to <paramref name="current"/> (null when the document never existed).</summary>
    /// <returns>The applied write, or the rejection that explains why nothing happened.</returns>
    public static (AppliedWrite? Write, Rejection? Rejection) Apply(StoredDocument? current, DocumentOp op, ConflictPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(op);
        var exists = current is { Deleted: false };
        var currentVersion = current?.Version ?? 0;

        if (op.IfVersion is { } expected)
        {
            // A tombstone keeps its version, so re-creating a deleted document may name it (or 0).
            var matches = expected == 0 ? !exists : current is not null && currentVersion == expected;
            if (!matches)
            {
                var what = expected == 0 ? "must not exist" : $"must be at version {expected}";
                var actual = exists ? $"is at version {currentVersion}" : current is null ? "does not exist" : $"was deleted at version {currentVersion}";
                return Reject(ErrorCodes.VersionConflict, $"{op.Collection}/{op.Id} {what} but {actual}.", current);
            }
        }
        else if (policy == ConflictPolicy.Strict && exists)
        {
            return Reject(ErrorCodes.PreconditionRequired,
                $"Collection '{op.Collection}' is strict: a write to an existing document needs ifVersion (current version {currentVersion}).", current);
        }

        var previous = exists ? ParseBody(current!) : null;
        var (after, rejection) = Transform(previous, op, current);
        if (rejection is not null)
        {
            return (null, rejection);
        }
        return after is null
            ? Done(new AppliedWrite(op.Collection, op.Id, currentVersion + 1, Deleted: true, Created: false, null, Delta.Empty, previous))
            : Done(Written(op, currentVersion, exists, after, previous));
    }

    /// <summary>
    /// The body <paramref name="op"/> makes of <paramref name="before"/> (null: no document), without
    /// version checks: a new object (null for a delete), or the rejection. <paramref name="before"/> is
    /// not changed. The server applies it after its version checks; a client applies it to show its
    /// unconfirmed writes, so the two cannot disagree.
    /// </summary>
    /// <param name="before">The document before the op, or null.</param>
    /// <param name="op">The op.</param>
    /// <param name="current">The stored document, carried by rejections that show it.</param>
    public static (JsonObject? After, Rejection? Rejection) Transform(JsonObject? before, DocumentOp op, StoredDocument? current = null)
    {
        ArgumentNullException.ThrowIfNull(op);
        switch (op)
        {
            case DeleteOp:
                return before is null
                    ? Refuse(ErrorCodes.NotFound, $"{op.Collection}/{op.Id} does not exist.", current)
                    : (null, null);

            case PutOp put:
                {
                    if (DocumentValidator.Validate(put.Document) is { } invalid)
                    {
                        return Refuse(ErrorCodes.InvalidDocument, invalid, null);
                    }
                    return ((JsonObject)put.Document.DeepClone(), null);
                }

            case PatchOp patch:
                {
                    var after = before is null ? [] : (JsonObject)before.DeepClone();
                    foreach (var path in patch.Unset)
                    {
                        if (!Names.TrySplitPath(path, out var segments))
                        {
                            return Refuse(ErrorCodes.InvalidRequest, $"'{path}' is not a valid field path.", null);
                        }
                        DocumentPaths.Unset(after, segments);
                    }
                    foreach (var (path, value) in patch.Set)
                    {
                        if (!Names.TrySplitPath(path, out var segments))
                        {
                            return Refuse(ErrorCodes.InvalidRequest, $"'{path}' is not a valid field path.", null);
                        }
                        if (DocumentValidator.ValidateValue(value, segments.Length, path) is { } invalid)
                        {
                            return Refuse(ErrorCodes.InvalidDocument, invalid, null);
                        }
                        if (DocumentPaths.TrySet(after, segments, value?.DeepClone()) is { } error)
                        {
                            return Refuse(ErrorCodes.InvalidOperation, error, current);
                        }
                    }
                    return (after, null);
                }

            case MergePatchOp merge:
                {
                    var after = before is null ? [] : (JsonObject)before.DeepClone();
                    MergePatch(after, merge.Patch);
                    if (DocumentValidator.Validate(after) is { } invalid)
                    {
                        return Refuse(ErrorCodes.InvalidDocument, invalid, null);
                    }
                    return (after, null);
                }

            case IncOp inc:
                {
                    if (!Names.TrySplitPath(inc.Path, out var segments))
                    {
                        return Refuse(ErrorCodes.InvalidRequest, $"'{inc.Path}' is not a valid field path.", null);
                    }
                    var after = before is null ? [] : (JsonObject)before.DeepClone();
                    decimal start = 0;
                    if (DocumentPaths.TryGet(after, segments, out var existing) && existing is not null)
                    {
                        if (!TryReadNumber(existing, out start))
                        {
                            return Refuse(ErrorCodes.InvalidOperation, $"'{inc.Path}' is not a number, so it cannot be incremented.", current);
                        }
                    }
                    decimal sum;
                    try
                    {
                        sum = start + inc.By;
                    }
                    catch (OverflowException)
                    {
                        return Refuse(ErrorCodes.InvalidOperation, $"Incrementing '{inc.Path}' overflows.", current);
                    }
                    if (DocumentPaths.TrySet(after, segments, NumberNode(sum)) is { } error)
                    {
                        return Refuse(ErrorCodes.InvalidOperation, error, current);
                    }
                    return (after, null);
                }

            default:
                throw new ArgumentException($"Unknown operation type {op.GetType().Name}.", nameof(op));
        }
    }

    private static (JsonObject?, Rejection?) Refuse(ErrorCode code, string message, StoredDocument? current) =>
        (null, new Rejection(code, message, current));

    private static AppliedWrite Written(DocumentOp op, long currentVersion, bool exists, JsonObject after, JsonObject? previous) =>
        new(op.Collection, op.Id, currentVersion + 1, Deleted: false, Created: !exists, after, Delta.Compute(previous, after), previous);

    /// <summary>RFC 7396 MergePatch(target, patch) for an object target, in place.</summary>
    public static void MergePatch(JsonObject target, JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(patch);
        foreach (var (key, value) in patch)
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject patchObject)
            {
                if (target[key] is not JsonObject targetObject)
                {
                    targetObject = [];
                    target[key] = targetObject;
                }
                MergePatch(targetObject, patchObject);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    /// <summary>Parses a stored body into a mutable object.</summary>
    public static JsonObject ParseBody(StoredDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return JsonNode.Parse(document.Json ?? "{}") as JsonObject
            ?? throw new InvalidDataException($"Stored document {document.Collection}/{document.Id} is not a JSON object.");
    }

    /// <summary>Reads a JSON number as a decimal; false for non-numbers and numbers beyond decimal's range.</summary>
    public static bool TryReadNumber(JsonNode node, out decimal value)
    {
        value = 0;
        if (node is not JsonValue jsonValue || jsonValue.GetValueKind() != JsonValueKind.Number)
        {
            return false;
        }
        if (jsonValue.TryGetValue(out decimal d))
        {
            value = d;
            return true;
        }
        if (jsonValue.TryGetValue(out JsonElement element))
        {
            return element.TryGetDecimal(out value);
        }
        return decimal.TryParse(jsonValue.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>A JSON number node for a decimal, written without a trailing ".0" for whole numbers.</summary>
    public static JsonNode NumberNode(decimal value)
    {
        if (value == decimal.Truncate(value) && value >= long.MinValue && value <= long.MaxValue)
        {
            return JsonValue.Create((long)value);
        }
        return JsonValue.Create(value);
    }

    private static (AppliedWrite?, Rejection?) Done(AppliedWrite write) => (write, null);

    private static (AppliedWrite?, Rejection?) Reject(ErrorCode code, string message, StoredDocument? current) =>
        (null, new Rejection(code, message, current));
}
