using System.Buffers;
using System.Text.Json;
using MessagePack;

namespace Lockstep.Protocol;

/// <summary>
/// <c>lockstep.v1.msgpack</c>: every frame one MessagePack array in a binary message, <c>[type, …]</c>, the
/// frames sent most positional and the rest <c>[type, {fields}]</c> (docs/protocol.md §11). Read goes through
/// the frame's canonical JSON form (<see cref="ToJson"/>), so both encodings mean exactly the same.
/// </summary>
public sealed class MessagePackFrameCodec : IFrameCodec
{
    /// <summary>The subprotocol.</summary>
    public const string Name = "lockstep.v1.msgpack";

    /// <inheritdoc />
    public string SubProtocol => Name;

    /// <inheritdoc />
    public bool IsBinary => true;

    /// <inheritdoc />
    public void Write(Frame frame, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var writer = new MessagePackWriter(output);
        MessagePackFrameWriter.Write(ref writer, frame);
        writer.Flush();
    }

    /// <inheritdoc />
    public Frame Read(ReadOnlyMemory<byte> message)
    {
        var json = new ArrayBufferWriter<byte>(message.Length * 2 + 64);
        var utf8 = ToJson(message, json);
        using var document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = JsonText.MaxDepth + 2 });
        return JsonFrameReader.ReadChecked(document.RootElement);
    }

    /// <inheritdoc />
    public ReadOnlyMemory<byte> ToJson(ReadOnlyMemory<byte> message, ArrayBufferWriter<byte> scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        scratch.ResetWrittenCount();
        var json = JsonCodecText.Writer(scratch);
        try
        {
            var reader = new MessagePackReader(message);
            MessagePackFrameReader.Transcode(ref reader, json);
            if (!reader.End)
            {
                throw new FrameFormatException("A frame is one MessagePack value; bytes follow it.");
            }
            json.Flush();
        }
        catch (Exception e) when (e is EndOfStreamException or MessagePackSerializationException or InvalidOperationException or ArgumentException)
        {
            throw new FrameFormatException($"Not a MessagePack frame: {e.Message}", e);
        }
        return scratch.WrittenMemory;
    }
}
