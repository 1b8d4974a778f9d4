using System.Text.Json.Nodes;

namespace Lockstep.Protocol;

/// <summary>A change a dead letter lists, by position: its body stays in the log (and the document) until compacted.</summary>
/// <param name="Seq">The change's seq.</param>
/// <param name="Collection">Its collection.</param>
/// <param name="Id">Its document's id.</param>
/// <param name="Version">The version it made.</param>
public readonly record struct DeadLetterEvent(long Seq, string Collection, string Id, long Version);

/// <summary>
/// A batch a webhook gave up on, as a document of the webhooks' dead-letter collection (docs/microservices.md,
/// "Webhooks"): <c>{"webhook","url","attempts","lastError","failedAt","events":[{"seq","collection","id","version"}]}</c>.
/// </summary>
/// <param name="Webhook">The webhook's name.</param>
/// <param name="Url">Its endpoint when it gave up.</param>
/// <param name="Attempts">How many times the batch was sent.</param>
/// <param name="LastError">The last attempt's error.</param>
/// <param name="FailedAt">When it gave up (ISO 8601, round-trip).</param>
/// <param name="Events">The changes, in seq order; none for a gap (changes compacted before delivery).</param>
public sealed record DeadLetterBody(string Webhook, string Url, int Attempts, string LastError, string FailedAt, IReadOnlyList<DeadLetterEvent> Events)
{
    /// <summary>The document.</summary>
    public JsonObject ToJson() => new()
    {
        ["webhook"] = Webhook,
        ["url"] = Url,
        ["attempts"] = Attempts,
        ["lastError"] = LastError,
        ["failedAt"] = FailedAt,
        ["events"] = new JsonArray([.. Events.Select(e => (JsonNode)new JsonObject
        {
            ["seq"] = e.Seq,
            ["collection"] = e.Collection,
            ["id"] = e.Id,
            ["version"] = e.Version,
        })]),
    };

    /// <summary>A stored dead letter; null when the JSON is not one (each event needs its seq and collection).</summary>
    public static DeadLetterBody? Parse(string json)
    {
        if (JsonNode.Parse(json) is not JsonObject letter || letter["events"] is not JsonArray events)
        {
            return null;
        }
        var listed = new List<DeadLetterEvent>(events.Count);
        foreach (var e in events)
        {
            if (e?["seq"] is not JsonValue seq || e["collection"] is not JsonValue collection)
            {
                return null;
            }
            listed.Add(new DeadLetterEvent(seq.GetValue<long>(), collection.GetValue<string>(), (string?)e["id"] ?? "", (long?)e["version"] ?? 0));
        }
        return new DeadLetterBody((string?)letter["webhook"] ?? "", (string?)letter["url"] ?? "", (int?)letter["attempts"] ?? 0,
            (string?)letter["lastError"] ?? "", (string?)letter["failedAt"] ?? "", listed);
    }
}
