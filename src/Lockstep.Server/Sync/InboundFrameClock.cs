using System.Buffers.Binary;

namespace Lockstep.Server;

/// <summary>
/// Times the WebSocket frames a client sends as they cross the wire, below the WebSocket itself: a
/// receive returns nothing until its buffer is full or the frame has ended, so a frame whose payload
/// is dribbled a byte at a time is invisible to the session until it is whole. This clock follows the
/// frame headers (RFC 6455 §5.2) in the bytes read, and knows when the frame in progress began.
/// </summary>
/// <remarks>
/// Concurrency: <see cref="Observe"/> is called by the one reader of the connection's stream (the
/// WebSocket reads serially); <see cref="FrameStarted"/> may be read from any thread.
/// </remarks>
internal sealed class InboundFrameClock(TimeProvider time)
{
    private readonly byte[] _header = new byte[14];
    private int _headerFill;
    private int _headerLength = 2;
    private long _payloadLeft;
    private long _frameStarted;

    /// <summary>When the first byte of the frame still incomplete arrived (a <see cref="TimeProvider"/> timestamp), or 0 between frames.</summary>
    public long FrameStarted => Interlocked.Read(ref _frameStarted);

    /// <summary>Follows bytes just read from the client.</summary>
    public void Observe(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_payloadLeft > 0)
            {
                var take = (int)Math.Min(_payloadLeft, data.Length);
                _payloadLeft -= take;
                data = data[take..];
                if (_payloadLeft == 0)
                {
                    Interlocked.Exchange(ref _frameStarted, 0);
                }
                continue;
            }
            if (_headerFill == 0)
            {
                Interlocked.Exchange(ref _frameStarted, time.GetTimestamp());
            }
            _header[_headerFill++] = data[0];
            data = data[1..];
            if (_headerFill == 2)
            {
                var extended = (_header[1] & 0x7F) switch { 126 => 2, 127 => 8, _ => 0 };
                _headerLength = 2 + extended + ((_header[1] & 0x80) != 0 ? 4 : 0);
            }
            if (_headerFill >= 2 && _headerFill == _headerLength)
            {
                _payloadLeft = (_header[1] & 0x7F) switch
                {
                    126 => BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2)),
                    127 => (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)), long.MaxValue),
                    var length => length,
                };
                _headerFill = 0;
                if (_payloadLeft == 0)
                {
                    Interlocked.Exchange(ref _frameStarted, 0);
                }
            }
        }
    }
}
