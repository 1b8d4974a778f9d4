using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Client;

/// <summary>Applies an unconfirmed op to the local copy of a document, the way the server will (for the optimistic view).</summary>
internal static class LocalApply
{
    /// <summary>The document after <paramref name="op"/>; null when deleted. An op the server would refuse leaves the document as it was.</summary>
    public static JsonObject? Apply(JsonObject? document, DocumentOp op)
    {
        switch (op)
        {
            case DeleteOp:
                return null;
            case PutOp put:
                return (JsonObject)put.Document.DeepClone();
            case PatchOp patch:
                {
                    var after = document ?? [];
                    foreach (var path in patch.Unset)
                    {
                        if (Names.TrySplitPath(path, out var segments))
                        {
                            DocumentPaths.Unset(after, segments);
                        }
                    }
                    foreach (var (path, value) in patch.Set)
                    {
                        if (Names.TrySplitPath(path, out var segments))
                        {
                            _ = DocumentPaths.TrySet(after, segments, value?.DeepClone());
                        }
                    }
                    return after;
                }
            case IncOp inc:
                {
                    var after = document ?? [];
                    if (!Names.TrySplitPath(inc.Path, out var segments))
                    {
                        return after;
                    }
                    decimal start = 0;
                    if (DocumentPaths.TryGet(after, segments, out var existing) && existing is not null && !DocumentWriter.TryReadNumber(existing, out start))
                    {
                        return after;
                    }
                    try
                    {
                        _ = DocumentPaths.TrySet(after, segments, DocumentWriter.NumberNode(start + inc.By));
                    }
                    catch (OverflowException)
                    {
                    }
                    return after;
                }
            case MergePatchOp merge:
                {
                    var after = document ?? [];
                    DocumentWriter.MergePatch(after, merge.Patch);
                    return after;
                }
            default:
                return document;
        }
    }
}
