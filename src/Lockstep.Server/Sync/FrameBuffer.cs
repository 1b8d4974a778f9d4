using System.Buffers;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Encodes one outgoing frame at a time in the connection's encoding, into an array rented from the shared pool
/// for that frame and given back by <see cref="Release"/> once it is sent: an idle connection holds no buffer, and
/// one large frame does not stay with the connection after it.
/// </summary>
internal sealed class FrameBuffer(IFrameCodec codec) : IBufferWriter<byte>
{
    private const int MinimumBytes = 1024;
    private byte[] _array = [];
    private int _written;

    /// <summary>The frame's bytes, valid until the next <c>Encode</c> or <see cref="Release"/>.</summary>
    public ReadOnlyMemory<byte> Encode(Frame frame)
    {
        _written = 0;
        codec.Write(frame, this);
        return _array.AsMemory(0, _written);
    }

    /// <summary>A shared frame's bytes addressed to <paramref name="sub"/>, valid until the next <c>Encode</c> or <see cref="Release"/>.</summary>
    public ReadOnlyMemory<byte> Encode(SharedFrame frame, string sub)
    {
        _written = 0;
        frame.WriteTo(sub, this);
        return _array.AsMemory(0, _written);
    }

    /// <summary>Gives the array back to the pool (the bytes <c>Encode</c> gave are no longer valid).</summary>
    public void Release()
    {
        _written = 0;
        if (_array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
            _array = [];
        }
    }

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_array.Length - _written >= needed)
        {
            return;
        }
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_written + needed, Math.Max(_array.Length * 2, MinimumBytes)));
        _array.AsSpan(0, _written).CopyTo(bigger);
        if (_array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }
        _array = bigger;
    }
}
