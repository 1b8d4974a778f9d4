using System.Text.Json;

namespace Lockstep.Core;

/// <summary>
/// One entry of the change log: the write that produced version <see cref="Version"/> of a document,
/// at log position <see cref="Seq"/>. Immutable once built, and safe to share between threads.
/// </summary>
public sealed class Change
{
    private JsonElement? _document;
    private JsonElement? _previous;
    private int _documentParsed;
    private int _previousParsed;

    /// <summary>The log position: global, gapless, strictly increasing in commit order.</summary>
    public required long Seq { get; init; }

    /// <summary>The collection.</summary>
    public required string Collection { get; init; }

    /// <summary>The document id.</summary>
    public required string Id { get; init; }

    /// <summary>The document's version after this change.</summary>
    public required long Version { get; init; }

    /// <summary>True when this change deleted the document (a tombstone).</summary>
    public bool Deleted { get; init; }

    /// <summary>True when the document did not exist (or was a tombstone) before this change.</summary>
    public bool Created { get; init; }

    /// <summary>The whole document after the change (its "after image"); null when deleted.</summary>
    public string? DocumentJson { get; init; }

    /// <summary>The <c>set</c> part of the delta: a JSON object whose keys are dotted field paths. Null when deleted.</summary>
    public string? SetJson { get; init; }

    /// <summary>The <c>unset</c> part of the delta: a JSON array of dotted field paths, or null when nothing was removed.</summary>
    public string? UnsetJson { get; init; }

    /// <summary>
    /// The seq of the change that produced the previous version of this document (0 when there was
    /// none). Its body is the "before image", which a filtered subscription needs when it catches up
    /// from the log: <see cref="IStoreReader.GetBodyAsync"/>.
    /// </summary>
    public long PreviousSeq { get; init; }

    /// <summary>The hybrid-logical-clock stamp the sequencer gave the change.</summary>
    public HlcTimestamp Hlc { get; init; }

    /// <summary>The client that sent the mutation, when it came from one.</summary>
    public string? ClientId { get; init; }

    /// <summary>The client's mutation number, when it came from a client that numbered it.</summary>
    public long? MutationNo { get; init; }

    /// <summary>
    /// The document before the change, when known: always for changes fresh from the sequencer, never
    /// for changes read back from the log. Not persisted. Null when the document did not exist before.
    /// </summary>
    public string? PreviousJson { get; init; }

    /// <summary>True when <see cref="PreviousJson"/> is known (it may still be null: no previous document).</summary>
    public bool PreviousKnown { get; init; }

    /// <summary>A copy of this change with its before image filled in (for changes read back from the log).</summary>
    public Change WithPrevious(string? previousJson, bool known) => new()
    {
        Seq = Seq,
        Collection = Collection,
        Id = Id,
        Version = Version,
        Deleted = Deleted,
        Created = Created,
        DocumentJson = DocumentJson,
        SetJson = SetJson,
        UnsetJson = UnsetJson,
        PreviousSeq = PreviousSeq,
        Hlc = Hlc,
        ClientId = ClientId,
        MutationNo = MutationNo,
        PreviousJson = previousJson,
        PreviousKnown = known,
    };

    /// <summary>The after image parsed once, for filters; null when deleted.</summary>
    public JsonElement? Document => Parse(DocumentJson, ref _document, ref _documentParsed);

    /// <summary>The before image parsed once, for filters; null when unknown or absent.</summary>
    public JsonElement? Previous => Parse(PreviousJson, ref _previous, ref _previousParsed);

    private static JsonElement? Parse(string? json, ref JsonElement? cache, ref int parsed)
    {
        if (json is null)
        {
            return null;
        }
        if (Volatile.Read(ref parsed) == 0)
        {
            // Two threads may both parse; both results are equal and immutable, so the race is harmless.
            using var doc = JsonDocument.Parse(json);
            cache = doc.RootElement.Clone();
            Volatile.Write(ref parsed, 1);
        }
        return cache;
    }
}
