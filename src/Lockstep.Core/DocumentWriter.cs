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
        switch (op)
        {
            case DeleteOp:
                if (!exists)
                {
                    return Reject(ErrorCodes.NotFound, $"{op.Collection}/{op.Id} does not exist.", current);
                }
                return Done(new AppliedWrite(op.Collection, op.Id, currentVersion + 1, Deleted: true, Created: false, null, Delta.Empty, previous));

            case PutOp put:
                {
                    if (DocumentValidator.Validate(put.Document) is { } invalid)
                    {
                        return Reject(ErrorCodes.InvalidDocument, invalid, null);
                    }
                    var after = (JsonObject)put.Document.DeepClone();
                    return Done(Written(op, currentVersion, exists, after, previous));
                }

            case PatchOp patch:
                {
                    var after = previous is null ? [] : (JsonObject)previous.DeepClone();
                    foreach (var path in patch.Unset)
                    {
                        if (!Names.TrySplitPath(path, out var segments))
                        {
                            return Reject(ErrorCodes.InvalidRequest, $"'{path}' is not a valid field path.", null);
                        }
                        DocumentPaths.Unset(after, segments);
                    }
                    foreach (var (path, value) in patch.Set)
                    {
                        if (!Names.TrySplitPath(path, out var segments))
                        {
                            return Reject(ErrorCodes.InvalidRequest, $"'{path}' is not a valid field path.", null);
                        }
                        if (DocumentValidator.ValidateValue(value, segments.Length, path) is { } invalid)
                        {
                            return Reject(ErrorCodes.InvalidDocument, invalid, null);
                        }
                        if (DocumentPaths.TrySet(after, segments, value?.DeepClone()) is { } error)
                        {
                            return Reject(ErrorCodes.InvalidOperation, error, current);
                        }
                    }
                    return Done(Written(op, currentVersion, exists, after, previous));
                }

            case MergePatchOp merge:
                {
                    var after = previous is null ? [] : (JsonObject)previous.DeepClone();
                    MergePatch(after, merge.Patch);
                    if (DocumentValidator.Validate(after) is { } invalid)
                    {
                        return Reject(ErrorCodes.InvalidDocument, invalid, null);
                    }
                    return Done(Written(op, currentVersion, exists, after, previous));
                }

            case IncOp inc:
                {
                    if (!Names.TrySplitPath(inc.Path, out var segments))
                    {
                        return Reject(ErrorCodes.InvalidRequest, $"'{inc.Path}' is not a valid field path.", null);
                    }
                    var after = previous is null ? [] : (JsonObject)previous.DeepClone();
                    decimal start = 0;
                    if (DocumentPaths.TryGet(after, segments, out var existing) && existing is not null)
                    {
                        if (!TryReadNumber(existing, out start))
                        {
                            return Reject(ErrorCodes.InvalidOperation, $"'{inc.Path}' is not a number, so it cannot be incremented.", current);
                        }
                    }
                    decimal sum;
                    try
                    {
                        sum = start + inc.By;
                    }
                    catch (OverflowException)
                    {
                        return Reject(ErrorCodes.InvalidOperation, $"Incrementing '{inc.Path}' overflows.", current);
                    }
                    if (DocumentPaths.TrySet(after, segments, NumberNode(sum)) is { } error)
                    {
                        return Reject(ErrorCodes.InvalidOperation, error, current);
                    }
                    return Done(Written(op, currentVersion, exists, after, previous));
                }

            default:
                throw new ArgumentException($"Unknown operation type {op.GetType().Name}.", nameof(op));
        }
    }

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
