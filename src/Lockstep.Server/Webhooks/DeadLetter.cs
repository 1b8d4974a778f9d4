using System.Globalization;
using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>A batch a webhook gave up on: which changes, how many attempts, the last error.</summary>
internal sealed record DeadLetter(string Id, IReadOnlyList<Change> Events, int Attempts, string LastError)
{
    public JsonObject ToJson(string webhook, Uri url, DateTimeOffset failedAt) => new()
    {
        ["webhook"] = webhook,
        ["url"] = url.ToString(),
        ["attempts"] = Attempts,
        ["lastError"] = LastError,
        ["failedAt"] = failedAt.ToString("O", CultureInfo.InvariantCulture),
        // The changes by position; their bodies stay in the log (and the documents) until compacted.
        ["events"] = new JsonArray([.. Events.Select(e => (JsonNode)new JsonObject
        {
            ["seq"] = e.Seq,
            ["collection"] = e.Collection,
            ["id"] = e.Id,
            ["version"] = e.Version,
        })]),
    };
}
