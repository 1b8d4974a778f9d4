using System.Text.Json.Nodes;

namespace Lockstep.Protocol;

/// <summary>
/// A webhook's delivery position, as a document of the webhooks' cursor collection: <c>{"seq","url","updatedAt"}</c>.
/// Every change up to <paramref name="Seq"/> was delivered or dead-lettered.
/// </summary>
/// <param name="Seq">The position.</param>
/// <param name="Url">The endpoint it was delivered to.</param>
/// <param name="UpdatedAt">When it moved (ISO 8601, round-trip).</param>
public sealed record WebhookCursorBody(long Seq, string Url, string UpdatedAt)
{
    /// <summary>The document.</summary>
    public JsonObject ToJson() => new()
    {
        ["seq"] = Seq,
        ["url"] = Url,
        ["updatedAt"] = UpdatedAt,
    };

    /// <summary>The position of a stored cursor; null when the JSON has none.</summary>
    public static long? ReadSeq(string json) => JsonNode.Parse(json)?["seq"]?.GetValue<long>();
}
