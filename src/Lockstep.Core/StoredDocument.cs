namespace Lockstep.Core;

/// <summary>A document as the store holds it: the latest version, or a tombstone.</summary>
/// <param name="Collection">The collection name.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">1 for the first write, +1 for each later one (a delete too).</param>
/// <param name="Seq">The log position of the change that produced this version.</param>
/// <param name="Deleted">True for a tombstone.</param>
/// <param name="Json">The document body, a JSON object; null for a tombstone.</param>
/// <param name="Hlc">The hybrid-logical-clock stamp of the change that produced this version.</param>
public sealed record StoredDocument(string Collection, string Id, long Version, long Seq, bool Deleted, string? Json, HlcTimestamp Hlc);
