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
}
