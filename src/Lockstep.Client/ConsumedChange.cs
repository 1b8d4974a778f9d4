using System.Text.Json.Nodes;

namespace Lockstep.Client;

/// <summary>One change delivered to a consumer group member's handler.</summary>
/// <param name="Group">The consumer group.</param>
/// <param name="Partition">The partition of the document (every change of a document is in one partition).</param>
/// <param name="Seq">The change's position in the log: unique and increasing; deduplicate on it (see <see cref="LockstepInbox"/>).</param>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The document's version after the change.</param>
/// <param name="Deleted">True when the change deleted the document.</param>
/// <param name="Document">The whole document after the change; null when deleted.</param>
/// <param name="Set">The changed fields (dotted paths to values); null when deleted.</param>
/// <param name="ClientId">The client id that wrote it when the consumer's own credentials did (to tell its own writes); null for anyone else's.</param>
public sealed record ConsumedChange(string Group, int Partition, long Seq, string Collection, string Id, long Version, bool Deleted,
    JsonObject? Document, JsonObject? Set, string? ClientId);
