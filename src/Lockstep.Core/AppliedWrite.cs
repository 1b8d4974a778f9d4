using System.Text.Json.Nodes;

namespace Lockstep.Core;

/// <summary>The result of applying one operation: the new state of the document and what changed.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The new version.</param>
/// <param name="Deleted">True when the operation deleted the document.</param>
/// <param name="Created">True when the document did not exist (or was a tombstone) before.</param>
/// <param name="Document">The new body; null when deleted.</param>
/// <param name="Delta">The fields that changed; empty for a delete.</param>
/// <param name="Previous">The body before the write, when the document existed.</param>
public sealed record AppliedWrite(string Collection, string Id, long Version, bool Deleted, bool Created, JsonObject? Document, Delta Delta, JsonObject? Previous);
