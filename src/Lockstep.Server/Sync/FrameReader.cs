using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>What one read of the socket gave.</summary>
internal enum FrameReadOutcome
{
    /// <summary>A whole message, in <see cref="FrameReader.Message"/>.</summary>
    Frame,
    /// <summary>The peer closed.</summary>
    Closed,
    /// <summary>The message grew past the frame limit.</summary>
    TooLarge,
    /// <summary>A text message on a binary encoding, or the other way round.</summary>
    WrongType,
}

/// <summary>
/// Reads the socket's messages one at a time for a session: reassembles a message's pieces into one buffer
/// (at most <c>MaxFrameBytes</c>), tells text from binary per the connection's encoding, keeps the times the
/// session's timer judges (last message, a message begun but not whole), and spells a frame as the JSON object
/// of docs/protocol.md when it came in MessagePack. Between messages it holds no buffer: it waits for the next
/// with a zero-byte receive (as SignalR's WebSocket transport does), so an idle connection costs no receive buffer,
/// and a large message's buffer goes back to the pool with the next read.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private readonly WebSocket _socket;
    private readonly IFrameCodec _codec;
    private readonly int _maxFrameBytes;
    private readonly TimeProvider _time;
    private const int FirstBufferBytes = 16 * 1024;
    private byte[] _buffer = [];
    private ArrayBufferWriter<byte>? _canonical;
    private int _length;
    private long _lastReceived;
    private long _frameStarted;

    public FrameReader(WebSocket socket, IFrameCodec codec, int maxFrameBytes, TimeProvider time)
    {
        _socket = socket;
        _codec = codec;
        _maxFrameBytes = maxFrameBytes;
        _time = time;
        _lastReceived = time.GetTimestamp();
    }

    /// <summary>When the last piece of any message arrived (a timestamp).</summary>
    public long LastReceived => Interlocked.Read(ref _lastReceived);

    /// <summary>When the first piece of a message still incomplete arrived (a timestamp), or 0.</summary>
    public long FrameStarted => Interlocked.Read(ref _frameStarted);

    /// <summary>The message the last <see cref="ReceiveAsync"/> read whole; valid until the next one.</summary>
    public ReadOnlyMemory<byte> Message => _buffer.AsMemory(0, _length);

    /// <summary>Reads one whole message.</summary>
    public async Task<FrameReadOutcome> ReceiveAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        _length = 0;
        ReturnBuffer();
        // Until a message begins, wait without a buffer: the receive completes once a frame's header is in.
        var result = await _socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
        var begun = false;
        while (true)
        {
            var now = _time.GetTimestamp();
            Interlocked.Exchange(ref _lastReceived, now);
            // A message arriving in pieces is timed from its first piece (FrameTimeout, checked by the timer).
            Interlocked.Exchange(ref _frameStarted, result.EndOfMessage ? 0 : begun ? Interlocked.Read(ref _frameStarted) : now);
            begun = true;
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return FrameReadOutcome.Closed;
            }
            length += result.Count;
            if (length > _maxFrameBytes)
            {
                return FrameReadOutcome.TooLarge;
            }
            if (result.MessageType != (_codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text))
            {
                // A text frame on a MessagePack connection, a binary one on a JSON connection (docs/protocol.md §2, §11).
                return FrameReadOutcome.WrongType;
            }
            if (result.EndOfMessage)
            {
                _length = length;
                return FrameReadOutcome.Frame;
            }
            if (length == _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(length == 0 ? FirstBufferBytes : Math.Min(_buffer.Length * 2, _maxFrameBytes + 1));
                _buffer.AsSpan(0, length).CopyTo(bigger);
                ReturnBuffer();
                _buffer = bigger;
            }
            result = await _socket.ReceiveAsync(_buffer.AsMemory(length), cancellationToken);
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>
    /// The frame as the JSON object of docs/protocol.md: a MessagePack frame is spelt as one (§11), so that every
    /// request passes the one validating JSON door and is refused with the code the same JSON frame gets.
    /// </summary>
    public bool TryCanonical(ReadOnlyMemory<byte> frame, out ReadOnlyMemory<byte> json, [NotNullWhen(false)] out Rejection? refusal)
    {
        refusal = null;
        if (!_codec.IsBinary)
        {
            json = frame;
            return true;
        }
        // Kept small between frames: one large frame must not hold its JSON spelling for the connection's life.
        if (_canonical is null || _canonical.Capacity > 64 * 1024)
        {
            _canonical = new ArrayBufferWriter<byte>(4096);
        }
        try
        {
            json = _codec.ToJson(frame, _canonical);
            return true;
        }
        catch (FrameFormatException e)
        {
            json = default;
            refusal = new Rejection(e.Code, e.Message);
            return false;
        }
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
