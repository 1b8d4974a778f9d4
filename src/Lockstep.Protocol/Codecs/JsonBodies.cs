using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>
/// The parts of frames that REST bodies share with the socket (docs/protocol.md §9): a mutation's answer is an
/// ack's fields, a problem carries an error's details, a listing's entries are a snapshot's.
/// </summary>
public static class JsonBodies
{
    /// <summary>An ack's fields after <c>t</c> and <c>id</c>: <c>seq</c>, <c>results</c>, <c>result</c>, <c>dup</c>.</summary>
    public static void WriteAckFields(Utf8JsonWriter writer, AckFrame ack) => JsonFrameWriter.WriteAckFields(writer, ack);

    /// <summary>What an error adds to its code and message: <c>reason</c>, <c>op</c>, <c>current</c>, <c>dup</c>.</summary>
    public static void WriteErrorDetails(Utf8JsonWriter writer, ErrorFrame error) => JsonFrameWriter.WriteErrorDetails(writer, error);

    /// <summary>A listed document, <c>{"id","v","doc"}</c>.</summary>
    public static void WriteListedDocument(Utf8JsonWriter writer, SnapshotDocument document) => JsonFrameWriter.WriteListedDocument(writer, document);

    /// <summary>The answer to a document's write (<c>PUT</c>, <c>PATCH</c>, <c>DELETE</c>): <c>collection</c>, <c>id</c>, <c>v</c>, <c>seq</c>, and <c>dup</c> for a replay.</summary>
    public static void WriteDocumentWrittenFields(Utf8JsonWriter writer, string collection, string id, long version, long seq, bool duplicate)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("collection", collection);
        writer.WriteString("id", id);
        writer.WriteNumber("v", version);
        writer.WriteNumber("seq", seq);
        if (duplicate)
        {
            writer.WriteBoolean("dup", true);
        }
    }

    /// <summary>A listing's fields: <c>docs</c> (listed documents), <c>next</c> (the id to list after, or null) and <c>seq</c> (the head it was read at).</summary>
    public static void WriteListingFields(Utf8JsonWriter writer, IEnumerable<SnapshotDocument> documents, string? next, long seq)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(documents);
        writer.WriteStartArray("docs");
        foreach (var document in documents)
        {
            WriteListedDocument(writer, document);
        }
        writer.WriteEndArray();
        if (next is null)
        {
            writer.WriteNull("next");
        }
        else
        {
            writer.WriteString("next", next);
        }
        writer.WriteNumber("seq", seq);
    }

    /// <summary>
    /// Reads a listing <see cref="WriteListingFields"/> wrote: false unless <c>docs</c> is an array of <c>{"id","v","doc"}</c>
    /// (a string id, an integer version, an object document), <c>next</c> a string or null, and <c>seq</c> an integer.
    /// </summary>
    public static bool TryReadListing(JsonElement body, out IReadOnlyList<SnapshotDocument> documents, out string? next, out long seq)
    {
        documents = [];
        next = null;
        seq = 0;
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("docs", out var docs) || docs.ValueKind != JsonValueKind.Array || !TryInt64(body, "seq", out seq))
        {
            return false;
        }
        var read = new List<SnapshotDocument>(docs.GetArrayLength());
        foreach (var item in docs.EnumerateArray())
        {
            if (!TryString(item, "id", out var id) || !TryInt64(item, "v", out var version)
                || !item.TryGetProperty("doc", out var doc) || doc.ValueKind != JsonValueKind.Object)
            {
                return false;
            }
            read.Add(new SnapshotDocument(id, version, new RawJson(doc.GetRawText())));
        }
        if (body.TryGetProperty("next", out var after) && after.ValueKind is not (JsonValueKind.Null or JsonValueKind.String))
        {
            return false;
        }
        documents = read;
        TryString(body, "next", out next);
        return true;
    }

    /// <summary>Reads a document write's answer (<see cref="WriteDocumentWrittenFields"/>): false unless <c>v</c> and <c>seq</c> are integers.</summary>
    public static bool TryReadDocumentWritten(JsonElement body, out long version, out long seq)
    {
        seq = 0;
        return TryInt64(body, "v", out version) & TryInt64(body, "seq", out seq);
    }

    /// <summary>A change of the feed as an object.</summary>
    public static void WriteFeedChange(Utf8JsonWriter writer, FeedChange change)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        WriteFeedChangeFields(writer, change);
        writer.WriteEndObject();
    }

    /// <summary>The fields of <see cref="WriteFeedChange"/>, into an object already started (a consumer group's event adds its partition).</summary>
    public static void WriteFeedChangeFields(Utf8JsonWriter writer, FeedChange change)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(change);
        writer.WriteNumber("seq", change.Seq);
        writer.WriteString("collection", change.Collection);
        writer.WriteString("id", change.Id);
        writer.WriteNumber("version", change.Version);
        if (change.Removed)
        {
            writer.WriteBoolean("removed", true);
            return;
        }
        writer.WriteString("hlc", change.Hlc);
        if (change.ClientId is not null)
        {
            writer.WriteString("clientId", change.ClientId);
            if (change.Mid is { } mid)
            {
                writer.WriteNumber("mid", mid);
            }
        }
        if (change.Deleted)
        {
            writer.WriteBoolean("deleted", true);
            return;
        }
        if (change.Created)
        {
            writer.WriteBoolean("created", true);
        }
        JsonFrameWriter.Raw(writer, "set", change.Set ?? new RawJson("{}"));
        JsonFrameWriter.Raw(writer, "unset", change.Unset);
        JsonFrameWriter.Raw(writer, "doc", change.Doc ?? new RawJson("{}"));
    }
    /// <summary>
    /// Reads a change as <see cref="WriteFeedChangeFields"/> wrote it (other fields, such as a group event's
    /// <c>partition</c>, are ignored); false unless <c>seq</c>, <c>collection</c>, <c>id</c> and <c>version</c> are there.
    /// </summary>
    public static bool TryReadFeedChange(JsonElement item, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FeedChange? change)
    {
        change = null;
        if (!TryInt64(item, "seq", out var seq) || !TryInt64(item, "version", out var version)
            || !TryString(item, "collection", out var collection) || !TryString(item, "id", out var id))
        {
            return false;
        }
        TryString(item, "hlc", out var hlc);
        TryString(item, "clientId", out var clientId);
        change = new FeedChange(seq, collection, id, version)
        {
            Hlc = hlc,
            ClientId = clientId,
            Mid = TryInt64(item, "mid", out var mid) ? mid : null,
            Deleted = IsTrue(item, "deleted"),
            Created = IsTrue(item, "created"),
            Removed = IsTrue(item, "removed"),
            Set = Raw(item, "set"),
            Unset = Raw(item, "unset"),
            Doc = Raw(item, "doc"),
        };
        return true;
    }

    /// <summary>An integer field of an object.</summary>
    internal static bool TryInt32(JsonElement item, string name, out int value)
    {
        value = 0;
        return item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out value);
    }

    /// <summary>A 64-bit integer field of an object.</summary>
    internal static bool TryInt64(JsonElement item, string name, out long value)
    {
        value = 0;
        return item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out value);
    }

    private static bool TryString(JsonElement item, string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        value = item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return value is not null;
    }

    private static bool IsTrue(JsonElement item, string name) => item.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    private static RawJson? Raw(JsonElement item, string name) =>
        item.TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? new RawJson(v.GetRawText()) : null;
}
