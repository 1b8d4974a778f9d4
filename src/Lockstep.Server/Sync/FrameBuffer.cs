using System.Buffers;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>A reusable buffer that encodes one outgoing frame at a time in the connection's encoding.</summary>
internal sealed class FrameBuffer(IFrameCodec codec)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    /// <summary>The frame's bytes, valid until the next call.</summary>
    public ReadOnlyMemory<byte> Encode(Frame frame)
    {
        _buffer.ResetWrittenCount();
        codec.Write(frame, _buffer);
        return _buffer.WrittenMemory;
    }
}
