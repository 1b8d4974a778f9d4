using System.Text.Json;
using MessagePack;

namespace Lockstep.Protocol;

/// <summary>
/// Spells a MessagePack frame as its JSON object (docs/protocol.md §11): a map-form frame's map becomes the
/// object's fields, a positional frame's elements are named by its layout. Values are copied as they are —
/// a field of the wrong type stays of the wrong type, for the reader of the JSON to refuse as it would in JSON.
/// </summary>
internal static class MessagePackFrameReader
{
    public static void Transcode(ref MessagePackReader reader, Utf8JsonWriter json)
    {
        if (reader.NextMessagePackType != MessagePackType.Array)
        {
            throw new FrameFormatException("A MessagePack frame is an array: [type, …].");
        }
        var count = reader.ReadArrayHeader();
        if (count == 0 || reader.NextMessagePackType != MessagePackType.Integer)
        {
            throw new FrameFormatException("A MessagePack frame starts with its type number.");
        }
        var number = reader.NextCode == MessagePackCode.UInt64 ? -1 : reader.ReadInt64();
        if (!FrameTypes.IsDefined(number))
        {
            throw new FrameFormatException(ErrorCodes.UnknownType, $"Unknown frame type number {(number < 0 ? "(too large)" : number)}.");
        }
        var type = (FrameType)number;
        json.WriteStartObject();
        json.WriteString("t", FrameTypes.Name(type));
        var layout = MessagePackLayouts.For(type);
        if (layout is null)
        {
            if (count >= 2)
            {
                if (reader.NextMessagePackType != MessagePackType.Map)
                {
                    throw new FrameFormatException($"A '{FrameTypes.Name(type)}' frame is [{number}, {{fields}}].");
                }
                var pairs = reader.ReadMapHeader();
                for (var i = 0; i < pairs; i++)
                {
                    var key = MessagePackValues.ReadKey(ref reader);
                    if (key.SequenceEqual("t"u8))
                    {
                        MessagePackValues.SkipChecked(ref reader, 2);
                        continue;
                    }
                    json.WritePropertyName(key);
                    MessagePackValues.CopyValue(ref reader, json, 2);
                }
            }
            Skip(ref reader, count - 2);
        }
        else
        {
            Positional(ref reader, json, count - 1, layout, type);
        }
        json.WriteEndObject();
    }

    /// <summary>Writes <paramref name="count"/> elements under the names of <paramref name="layout"/>; nil ones are left out.</summary>
    private static void Positional(ref MessagePackReader reader, Utf8JsonWriter json, int count, string[] layout, FrameType type)
    {
        var kind = -1;
        for (var i = 0; i < count; i++)
        {
            if (i >= layout.Length || reader.IsNil)
            {
                MessagePackValues.SkipChecked(ref reader, 2);
                continue;
            }
            var name = layout[i];
            switch (type, name)
            {
                case (FrameType.Mutate, "ops"):
                    Items(ref reader, json, name, 2, Op);
                    break;
                case (FrameType.Snapshot, "docs"):
                    Items(ref reader, json, name, 2, static (ref MessagePackReader r, Utf8JsonWriter j, int d) => Named(ref r, j, MessagePackLayouts.SnapshotDocument, d));
                    break;
                case (FrameType.Ack, "results"):
                    Items(ref reader, json, name, 2, static (ref MessagePackReader r, Utf8JsonWriter j, int d) => Named(ref r, j, MessagePackLayouts.WrittenVersion, d));
                    break;
                case (FrameType.Change, "kind"):
                    kind = reader.NextMessagePackType == MessagePackType.Integer && reader.NextCode != MessagePackCode.UInt64 ? (int)Math.Clamp(reader.ReadInt64(), -1, 3) : 3;
                    if (kind is < 0 or > 2)
                    {
                        throw new FrameFormatException("A 'chg' frame's kind is 0 (a delta), 1 (a document) or 2 (deleted).");
                    }
                    if (kind == 2)
                    {
                        json.WriteBoolean("del", true);
                    }
                    break;
                case (FrameType.Change, "body"):
                    if (kind == 2)
                    {
                        MessagePackValues.SkipChecked(ref reader, 2);
                        break;
                    }
                    json.WritePropertyName(kind == 1 ? "doc" : "set");
                    MessagePackValues.CopyValue(ref reader, json, 2);
                    break;
                case (FrameType.Change, "unset") when kind != 0:
                    MessagePackValues.SkipChecked(ref reader, 2);
                    break;
                default:
                    json.WritePropertyName(name);
                    MessagePackValues.CopyValue(ref reader, json, 2);
                    break;
            }
        }
        if (type == FrameType.Change && kind == 0 && count < 6)
        {
            json.WriteStartObject("set");
            json.WriteEndObject();
        }
    }

    private delegate void ItemWriter(ref MessagePackReader reader, Utf8JsonWriter json, int depth);

    /// <summary>An array of positional items as an array of objects; an item that is not an array is written as null, for the reader to refuse.</summary>
    private static void Items(ref MessagePackReader reader, Utf8JsonWriter json, string name, int depth, ItemWriter item)
    {
        json.WritePropertyName(name);
        if (reader.NextMessagePackType != MessagePackType.Array)
        {
            MessagePackValues.CopyValue(ref reader, json, depth);
            return;
        }
        var count = reader.ReadArrayHeader();
        json.WriteStartArray();
        for (var i = 0; i < count; i++)
        {
            if (reader.NextMessagePackType != MessagePackType.Array)
            {
                MessagePackValues.SkipChecked(ref reader, 2);
                json.WriteNullValue();
                continue;
            }
            item(ref reader, json, depth + 1);
        }
        json.WriteEndArray();
    }

    /// <summary>A positional item (the reader is on its array) as an object.</summary>
    private static void Named(ref MessagePackReader reader, Utf8JsonWriter json, string[] layout, int depth)
    {
        var count = reader.ReadArrayHeader();
        json.WriteStartObject();
        for (var i = 0; i < count; i++)
        {
            if (i >= layout.Length || reader.IsNil)
            {
                MessagePackValues.SkipChecked(ref reader, 2);
                continue;
            }
            json.WritePropertyName(layout[i]);
            MessagePackValues.CopyValue(ref reader, json, depth + 1);
        }
        json.WriteEndObject();
    }

    /// <summary>An op, <c>[op, collection, id, ifVersion, …]</c>, as the JSON op object; an op number that is none is copied as it is.</summary>
    private static void Op(ref MessagePackReader reader, Utf8JsonWriter json, int depth)
    {
        var count = reader.ReadArrayHeader();
        json.WriteStartObject();
        if (count == 0)
        {
            json.WriteEndObject();
            return;
        }
        string[] tail = [];
        if (reader.NextMessagePackType == MessagePackType.Integer && reader.NextCode != MessagePackCode.UInt64)
        {
            var number = reader.ReadInt64();
            if (number is >= 0 and < 4)
            {
                json.WriteString("op", MessagePackLayouts.OpNames[number]);
                tail = MessagePackLayouts.OpTail[number];
            }
            else
            {
                json.WriteNumber("op", number); // no op has it: refused as an unknown op
            }
        }
        else
        {
            json.WritePropertyName("op");
            MessagePackValues.CopyValue(ref reader, json, depth + 1);
        }
        for (var i = 1; i < count; i++)
        {
            var at = i - MessagePackLayouts.OpHead.Length;
            var name = at < 0 ? MessagePackLayouts.OpHead[i] : at < tail.Length ? tail[at] : null;
            if (name is null || reader.IsNil)
            {
                MessagePackValues.SkipChecked(ref reader, 2);
                continue;
            }
            json.WritePropertyName(name);
            MessagePackValues.CopyValue(ref reader, json, depth + 1);
        }
        json.WriteEndObject();
    }

    private static void Skip(ref MessagePackReader reader, int count)
    {
        for (var i = 0; i < count; i++)
        {
            MessagePackValues.SkipChecked(ref reader, 2);
        }
    }
}
