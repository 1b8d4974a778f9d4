using System.Globalization;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>A batch a webhook gave up on: which changes, how many attempts, the last error.</summary>
internal sealed record DeadLetter(string Id, IReadOnlyList<Change> Events, int Attempts, string LastError)
{
    public JsonObject ToJson(string webhook, Uri url, DateTimeOffset failedAt) =>
        new DeadLetterBody(webhook, url.ToString(), Attempts, LastError, failedAt.ToString("O", CultureInfo.InvariantCulture),
            [.. Events.Select(e => new DeadLetterEvent(e.Seq, e.Collection, e.Id, e.Version))]).ToJson();
}
