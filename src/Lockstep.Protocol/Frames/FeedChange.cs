namespace Lockstep.Protocol;

/// <summary>
/// One change as the REST change feed, consumer groups and webhooks show it (docs/protocol.md §9): position,
/// identity, version, clock, delta and the whole document, or <c>removed</c> when it took the document away from the reader.
/// </summary>
/// <param name="Seq">The change's seq.</param>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The document's version after it.</param>
public sealed record FeedChange(long Seq, string Collection, string Id, long Version)
{
    /// <summary>The hybrid clock stamp; null on a <see cref="Removed"/> entry.</summary>
    public string? Hlc { get; init; }

    /// <summary>The writer's client id, shown only to the caller that made the change.</summary>
    public string? ClientId { get; init; }

    /// <summary>The writer's mutation number, with <see cref="ClientId"/>.</summary>
    public long? Mid { get; init; }

    /// <summary>True for a delete.</summary>
    public bool Deleted { get; init; }

    /// <summary>True when the document did not exist before.</summary>
    public bool Created { get; init; }

    /// <summary>The delta's <c>set</c>.</summary>
    public RawJson? Set { get; init; }

    /// <summary>The delta's <c>unset</c>.</summary>
    public RawJson? Unset { get; init; }

    /// <summary>The whole document after the change.</summary>
    public RawJson? Doc { get; init; }

    /// <summary>True when the change took the document away from what the reader may see: nothing else is shown.</summary>
    public bool Removed { get; init; }
}
