using System.Buffers;
using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>
/// <c>lockstep.v1.json</c>: every frame one JSON object in a text message, byte for byte as docs/protocol.md
/// §2–§10 show it (frozen by the golden frames in tests/fixtures/frames.json).
/// </summary>
public sealed class JsonFrameCodec : IFrameCodec
{
    /// <summary>The subprotocol.</summary>
    public const string Name = "lockstep.v1.json";

    /// <inheritdoc />
    public string SubProtocol => Name;

    /// <inheritdoc />
    public bool IsBinary => false;

    /// <inheritdoc />
    public void Write(Frame frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var w = JsonCodecText.Writer(output);
        JsonFrameWriter.Write(w, frame);
        w.Flush();
    }

    /// <inheritdoc />
    public Frame Read(ReadOnlyMemory<byte> message)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(message, new JsonDocumentOptions { MaxDepth = JsonText.MaxDepth });
        }
        catch (JsonException e)
        {
            throw new FrameFormatException($"Not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            return JsonFrameReader.ReadChecked(document.RootElement);
        }
    }

    /// <inheritdoc />
    public ReadOnlyMemory<byte> ToJson(ReadOnlyMemory<byte> message, ArrayBufferWriter<byte> scratch) => message;
}
