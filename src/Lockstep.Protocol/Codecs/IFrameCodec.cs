using System.Buffers;

namespace Lockstep.Protocol;

/// <summary>
/// One encoding of the frames of docs/protocol.md, shared by the server, the .NET client, the CLI's bench and
/// the test clients: <see cref="JsonFrameCodec"/> (<c>lockstep.v1.json</c>, text frames) and
/// <see cref="MessagePackFrameCodec"/> (<c>lockstep.v1.msgpack</c>, binary frames). Stateless and thread-safe.
/// </summary>
public interface IFrameCodec
{
    /// <summary>The WebSocket subprotocol that selects this encoding.</summary>
    string SubProtocol { get; }

    /// <summary>True when frames travel as binary WebSocket messages, false for text.</summary>
    bool IsBinary { get; }

    /// <summary>Writes <paramref name="frame"/> as one message's bytes.</summary>
    void Write(Frame frame, IBufferWriter<byte> output);

    /// <summary>Reads one message.</summary>
    /// <exception cref="FrameFormatException">The bytes are not a frame of this encoding.</exception>
    Frame Read(ReadOnlyMemory<byte> message);

    /// <summary>
    /// The message spelt as the JSON object docs/protocol.md §2–§10 describes (what a JSON client would have
    /// sent): the server reads every client frame through its one validating JSON door, whatever the encoding,
    /// so a MessagePack frame is refused with exactly the code the same JSON frame gets.
    /// </summary>
    /// <returns>The JSON bytes: <paramref name="message"/> itself for the JSON codec, else what was written to <paramref name="scratch"/>.</returns>
    /// <exception cref="FrameFormatException">The bytes are not a frame of this encoding.</exception>
    ReadOnlyMemory<byte> ToJson(ReadOnlyMemory<byte> message, ArrayBufferWriter<byte> scratch);
}

/// <summary>The codecs by subprotocol.</summary>
public static class FrameCodecs
{
    /// <summary>The JSON codec.</summary>
    public static IFrameCodec Json { get; } = new JsonFrameCodec();

    /// <summary>The MessagePack codec.</summary>
    public static IFrameCodec MessagePack { get; } = new MessagePackFrameCodec();

    /// <summary>The subprotocols, JSON first.</summary>
    public static IReadOnlyList<string> SubProtocols { get; } = [JsonFrameCodec.Name, MessagePackFrameCodec.Name];

    /// <summary>The codec a subprotocol names, or null.</summary>
    public static IFrameCodec? ForSubProtocol(string? subProtocol) => subProtocol switch
    {
        JsonFrameCodec.Name => Json,
        MessagePackFrameCodec.Name => MessagePack,
        _ => null,
    };

    /// <summary>The codec an encoding name names: <c>json</c> or <c>msgpack</c> (the CLI's and SDKs' option), or null.</summary>
    public static IFrameCodec? ForEncoding(string? encoding) => encoding?.ToLowerInvariant() switch
    {
        "json" => Json,
        "msgpack" or "messagepack" => MessagePack,
        _ => null,
    };
}

/// <summary>Bytes that are not a frame of the codec's encoding: <c>bad_frame</c>, or <c>unknown_type</c>.</summary>
public sealed class FrameFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FrameFormatException(ErrorCode code, string message, Exception? inner = null) : base(message, inner)
    {
        Code = code;
    }

    /// <summary>Creates a <c>bad_frame</c>.</summary>
    public FrameFormatException(string message) : this(ErrorCodes.BadFrame, message)
    {
    }

    /// <summary>Creates a <c>bad_frame</c>.</summary>
    public FrameFormatException() : this("Not a frame.")
    {
    }

    /// <summary>Creates a <c>bad_frame</c>.</summary>
    public FrameFormatException(string message, Exception inner) : this(ErrorCodes.BadFrame, message, inner)
    {
    }

    /// <summary><c>bad_frame</c> or <c>unknown_type</c>.</summary>
    public ErrorCode Code { get; }
}
