using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Client;

/// <summary>Applies an unconfirmed op to the local copy of a document, with the server's own code (for the optimistic view).</summary>
internal static class LocalApply
{
    /// <summary>The document after <paramref name="op"/>; null when deleted. An op the server would refuse leaves the document as it was (the refusal reverts the view anyway).</summary>
    public static JsonObject? Apply(JsonObject? document, DocumentOp op)
    {
        var (after, rejection) = DocumentWriter.Transform(document, op);
        return rejection is null ? after : document;
    }
}
