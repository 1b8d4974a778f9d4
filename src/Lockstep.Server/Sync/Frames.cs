using System.Text.Json;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>Writers for the fields of server frames that several places share.</summary>
internal static class Frames
{
    /// <summary>Writes a request id as it came: number or string.</summary>
    public static void WriteId(Utf8JsonWriter writer, JsonElement id)
    {
        if (id.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return;
        }
        writer.WritePropertyName("id");
        id.WriteTo(writer);
    }

    /// <summary>Writes code, message, reason, op and current of a rejection.</summary>
    public static void WriteRejectionFields(Utf8JsonWriter writer, Rejection rejection)
    {
        writer.WriteString("code", rejection.Error.Code);
        writer.WriteString("message", rejection.Message);
        WriteRejectionDetails(writer, rejection);
    }

    /// <summary>Writes what a rejection adds to its code: reason, op and current (shared by socket errors and REST problems).</summary>
    public static void WriteRejectionDetails(Utf8JsonWriter writer, Rejection rejection)
    {
        if (rejection.Reason is not null)
        {
            writer.WriteString("reason", rejection.Reason);
        }
        if (rejection.OpIndex is { } op)
        {
            writer.WriteNumber("op", op);
        }
        if (rejection.Current is { } current)
        {
            writer.WritePropertyName("current");
            WriteDocument(writer, current);
        }
    }

    /// <summary>Writes one entry of a document list: <c>{"id","v","doc"}</c> (snapshots and REST listings).</summary>
    public static void WriteListedDocument(Utf8JsonWriter writer, StoredDocument document)
    {
        writer.WriteStartObject();
        writer.WriteString("id", document.Id);
        writer.WriteNumber("v", document.Version);
        writer.WritePropertyName("doc");
        writer.WriteRawValue(document.Json ?? "{}", skipInputValidation: true);
        writer.WriteEndObject();
    }

    /// <summary>Writes <c>{"collection","id","v","doc"|"deleted"}</c>.</summary>
    public static void WriteDocument(Utf8JsonWriter writer, StoredDocument document)
    {
        writer.WriteStartObject();
        writer.WriteString("collection", document.Collection);
        writer.WriteString("id", document.Id);
        writer.WriteNumber("v", document.Version);
        if (document.Deleted)
        {
            writer.WriteBoolean("deleted", true);
        }
        else
        {
            writer.WritePropertyName("doc");
            writer.WriteRawValue(document.Json ?? "{}", skipInputValidation: true);
        }
        writer.WriteEndObject();
    }
}
