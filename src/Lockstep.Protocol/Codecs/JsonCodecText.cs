using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>The JSON spelling shared by the codecs: the escaping every frame and REST body uses, and a reusable writer per thread.</summary>
internal static class JsonCodecText
{
    /// <summary>Escapes only what JSON requires (and control characters): non-ASCII text travels as UTF-8.</summary>
    public static JavaScriptEncoder Encoder => JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public static JsonSerializerOptions SerializerOptions { get; } = new() { Encoder = Encoder };

    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = Encoder };

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>A writer over <paramref name="output"/>, reused on this thread; call <see cref="Utf8JsonWriter.Flush"/> when done.</summary>
    public static Utf8JsonWriter Writer(IBufferWriter<byte> output)
    {
        var writer = t_writer;
        if (writer is null)
        {
            writer = t_writer = new Utf8JsonWriter(output, WriterOptions);
        }
        else
        {
            writer.Reset(output);
        }
        return writer;
    }
}
