using System.Text.Json;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>One subscription of a session: a collection and a filter, named by the client, narrowed to what the caller may read.</summary>
internal sealed record Subscription(string Id, string Collection, Filter Filter)
{
    /// <summary>What the caller may read of the collection (all of it, or its own documents).</summary>
    public Grant Access { get; init; } = Grant.Everything;

    /// <summary>True when every document of the collection belongs to the subscription.</summary>
    public bool MatchesAll => Filter.MatchesAll && Access.All;

    /// <summary>Whether a document (null: absent) belongs to the subscription.</summary>
    public bool Matches(JsonElement? document) => Filter.Matches(document) && Access.Allows(document);
}
