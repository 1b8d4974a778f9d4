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
}
