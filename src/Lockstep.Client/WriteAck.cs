using System.Text.Json.Nodes;

namespace Lockstep.Client;

/// <summary>The version one write produced.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The new version.</param>
public readonly record struct WrittenVersion(string Collection, string Id, long Version);

/// <summary>A committed (durable) write.</summary>
/// <param name="Seq">The log position of its last change.</param>
/// <param name="Results">The version each op produced, in op order.</param>
/// <param name="Result">A mutator's return value.</param>
/// <param name="Duplicate">True when the server had already applied this write (a replay after a reconnect).</param>
public sealed record WriteAck(long Seq, IReadOnlyList<WrittenVersion> Results, JsonNode? Result, bool Duplicate)
{
    internal static WriteAck FromFrame(Protocol.AckFrame frame) => new(
        frame.Seq,
        [.. frame.Results.Select(r => new WrittenVersion(r.Collection, r.Id, r.Version))],
        frame.Result is { } result ? JsonNode.Parse(result.Json) : null,
        frame.Dup);
}
