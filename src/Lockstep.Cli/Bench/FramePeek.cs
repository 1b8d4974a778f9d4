using System.Text.Json;

namespace Lockstep.Cli.Bench;

/// <summary>Reads the few fields the benchmark needs from a frame without building a document.</summary>
internal static class FramePeek
{
    /// <summary>The frame's type, and for a <c>chg</c> frame the number in <c>set.n</c>; for a snapshot whether it is the last page.</summary>
    public static (string? Type, long? N, bool Last) Read(ReadOnlySpan<byte> frame)
    {
        var reader = new Utf8JsonReader(frame);
        string? type = null;
        long? n = null;
        var last = false;
        var depth = 0;
        var inSet = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    depth++;
                    break;
                case JsonTokenType.EndObject:
                    depth--;
                    inSet = false;
                    break;
                case JsonTokenType.PropertyName when depth == 1:
                    if (reader.ValueTextEquals("t"u8))
                    {
                        reader.Read();
                        type = reader.GetString();
                    }
                    else if (reader.ValueTextEquals("set"u8))
                    {
                        inSet = true;
                    }
                    else if (reader.ValueTextEquals("last"u8))
                    {
                        reader.Read();
                        last = reader.TokenType == JsonTokenType.True;
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                    break;
                case JsonTokenType.PropertyName when depth == 2 && inSet:
                    if (reader.ValueTextEquals("n"u8))
                    {
                        reader.Read();
                        n = reader.TryGetInt64(out var value) ? value : null;
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                    break;
                case JsonTokenType.StartArray:
                    reader.Skip();
                    break;
            }
        }
        return (type, n, last);
    }
}
