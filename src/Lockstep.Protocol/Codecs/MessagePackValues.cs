using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using MessagePack;

namespace Lockstep.Protocol;

/// <summary>
/// JSON values in MessagePack's types and back (docs/protocol.md §11, "Values"): objects as maps with str keys,
/// integers in their smallest int form, other numbers as float 64.
/// </summary>
internal static class MessagePackValues
{
    [ThreadStatic]
    private static List<int>? t_counts;

    [ThreadStatic]
    private static Stack<(int Index, bool IsArray)>? t_open;

    /// <summary>Writes the JSON text <paramref name="json"/> as one MessagePack value.</summary>
    public static void WriteJson(ref MessagePackWriter writer, string json)
    {
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var length = Encoding.UTF8.GetBytes(json, rented);
            WriteJson(ref writer, rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Writes the UTF-8 JSON <paramref name="utf8"/> as one MessagePack value, leaving out the top-level object's <paramref name="skipTopLevel"/> field.</summary>
    public static void WriteJson(ref MessagePackWriter writer, ReadOnlySpan<byte> utf8, ReadOnlySpan<byte> skipTopLevel = default)
    {
        // MessagePack puts each container's length in its header, so a first pass counts them.
        var counts = t_counts ??= [];
        counts.Clear();
        var open = t_open ??= new Stack<(int Index, bool IsArray)>();
        open.Clear();
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = JsonText.MaxDepth });
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                if (Skipped(ref reader, skipTopLevel))
                {
                    continue;
                }
                counts[open.Peek().Index]++;
                continue;
            }
            if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                open.Pop();
                continue;
            }
            if (open.Count > 0 && open.Peek().IsArray)
            {
                counts[open.Peek().Index]++;
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                open.Push((counts.Count, reader.TokenType == JsonTokenType.StartArray));
                counts.Add(0);
            }
        }

        reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = JsonText.MaxDepth });
        var next = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    writer.WriteMapHeader(counts[next++]);
                    break;
                case JsonTokenType.StartArray:
                    writer.WriteArrayHeader(counts[next++]);
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    break;
                case JsonTokenType.PropertyName:
                    if (!Skipped(ref reader, skipTopLevel))
                    {
                        WriteString(ref writer, ref reader);
                    }
                    break;
                case JsonTokenType.String:
                    WriteString(ref writer, ref reader);
                    break;
                case JsonTokenType.Number:
                    WriteNumber(ref writer, ref reader);
                    break;
                case JsonTokenType.True:
                    writer.Write(true);
                    break;
                case JsonTokenType.False:
                    writer.Write(false);
                    break;
                case JsonTokenType.Null:
                    writer.WriteNil();
                    break;
            }
        }
    }

    /// <summary>On a top-level property named <paramref name="skip"/>: moves past its value and says so.</summary>
    private static bool Skipped(ref Utf8JsonReader reader, ReadOnlySpan<byte> skip)
    {
        if (skip.IsEmpty || reader.CurrentDepth != 1 || !reader.ValueTextEquals(skip))
        {
            return false;
        }
        reader.Read();
        reader.Skip();
        return true;
    }

    private static void WriteString(ref MessagePackWriter writer, ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            writer.WriteString(reader.ValueSpan);
        }
        else
        {
            writer.Write(reader.GetString());
        }
    }

    private static void WriteNumber(ref MessagePackWriter writer, ref Utf8JsonReader reader)
    {
        var span = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan;
        var integral = span.IndexOfAny("eE."u8) < 0;
        if (integral && reader.TryGetInt64(out var l))
        {
            writer.Write(l);
        }
        else if (integral && reader.TryGetUInt64(out var u))
        {
            writer.Write(u);
        }
        else
        {
            writer.Write(reader.GetDouble());
        }
    }

    /// <summary>Copies one MessagePack value from <paramref name="reader"/> into <paramref name="json"/> as JSON.</summary>
    public static void CopyValue(ref MessagePackReader reader, Utf8JsonWriter json, int depth)
    {
        if (depth > JsonText.MaxDepth)
        {
            throw new FrameFormatException($"The frame nests deeper than {JsonText.MaxDepth} levels.");
        }
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                json.WriteNullValue();
                break;
            case MessagePackType.Boolean:
                json.WriteBooleanValue(reader.ReadBoolean());
                break;
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64)
                {
                    json.WriteNumberValue(reader.ReadUInt64());
                }
                else
                {
                    json.WriteNumberValue(reader.ReadInt64());
                }
                break;
            case MessagePackType.Float:
                var d = reader.ReadDouble();
                if (!double.IsFinite(d))
                {
                    throw new FrameFormatException("A number must be finite: JSON has no NaN or infinity.");
                }
                json.WriteNumberValue(d);
                break;
            case MessagePackType.String:
                json.WriteStringValue(ReadText(ref reader));
                break;
            case MessagePackType.Array:
                var items = reader.ReadArrayHeader();
                json.WriteStartArray();
                for (var i = 0; i < items; i++)
                {
                    CopyValue(ref reader, json, depth + 1);
                }
                json.WriteEndArray();
                break;
            case MessagePackType.Map:
                var pairs = reader.ReadMapHeader();
                json.WriteStartObject();
                for (var i = 0; i < pairs; i++)
                {
                    json.WritePropertyName(ReadKey(ref reader));
                    CopyValue(ref reader, json, depth + 1);
                }
                json.WriteEndObject();
                break;
            default:
                throw new FrameFormatException($"A MessagePack {reader.NextMessagePackType} value has no JSON spelling (bin and ext are not used).");
        }
    }

    /// <summary>
    /// Moves past a value nobody reads (a field past a layout, one a frame's kind leaves unused), holding it to the
    /// same rules as any other (§11, "Values"): what is not JSON is refused wherever it stands.
    /// </summary>
    public static void SkipChecked(ref MessagePackReader reader, int depth)
    {
        if (reader.NextMessagePackType is MessagePackType.Nil or MessagePackType.Boolean or MessagePackType.Integer)
        {
            reader.Skip();
            return;
        }
        using var discard = new Utf8JsonWriter(Stream.Null, new JsonWriterOptions { SkipValidation = true });
        CopyValue(ref reader, discard, depth);
    }

    /// <summary>Reads a map key, which must be a str.</summary>
    public static ReadOnlySpan<byte> ReadKey(ref MessagePackReader reader) =>
        reader.NextMessagePackType == MessagePackType.String ? ReadText(ref reader) : throw new FrameFormatException("A map key must be a str.");

    /// <summary>Reads a str as UTF-8 bytes, refusing bytes that are not UTF-8.</summary>
    public static ReadOnlySpan<byte> ReadText(ref MessagePackReader reader)
    {
        ReadOnlySpan<byte> bytes;
        if (!reader.TryReadStringSpan(out bytes))
        {
            bytes = (reader.ReadStringSequence() ?? default).ToArray();
        }
        return Utf8.IsValid(bytes) ? bytes : throw new FrameFormatException("A str must be UTF-8 text.");
    }
}
