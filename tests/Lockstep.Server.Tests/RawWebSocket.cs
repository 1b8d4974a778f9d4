using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Server.Tests;

/// <summary>
/// A WebSocket client written on a bare TCP socket, for what <see cref="System.Net.WebSockets.ClientWebSocket"/>
/// will not do: send a frame's header and then its payload a byte at a time, or stop reading altogether.
/// </summary>
public sealed class RawWebSocket : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _pending = new byte[64 * 1024];
    private int _pendingStart;
    private int _pendingEnd;

    private RawWebSocket(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// <summary>The close code the server sent, once it did.</summary>
    public int? CloseCode { get; private set; }

    /// <param name="receiveBufferBytes">The socket's receive buffer: small, so a client that stops reading pushes back on the server soon.</param>
    public static async Task<RawWebSocket> ConnectAsync(Uri syncUrl, int? receiveBufferBytes = null)
    {
        var tcp = new TcpClient();
        if (receiveBufferBytes is { } size)
        {
            tcp.ReceiveBufferSize = size;
        }
        await tcp.ConnectAsync(syncUrl.Host, syncUrl.Port);
        var socket = new RawWebSocket(tcp);
        var request = $"GET {syncUrl.PathAndQuery} HTTP/1.1\r\nHost: {syncUrl.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\n\r\n";
        await socket._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var response = new StringBuilder();
        while (!response.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            var b = new byte[1];
            if (await socket._stream.ReadAsync(b) == 0)
            {
                throw new IOException("The server closed during the handshake: " + response);
            }
            response.Append((char)b[0]);
        }
        if (!response.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new IOException("The upgrade was refused: " + response);
        }
        return socket;
    }

    /// <summary>Sends a whole text frame.</summary>
    public async Task SendTextAsync(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        await SendHeaderAsync(opcode: 1, payload.Length);
        await _stream.WriteAsync(payload);
    }

    /// <summary>Sends a final frame's header (masked with a zero key, so the payload goes as it is).</summary>
    public async Task SendHeaderAsync(byte opcode, int payloadLength)
    {
        var header = new List<byte> { (byte)(0x80 | opcode) };
        if (payloadLength < 126)
        {
            header.Add((byte)(0x80 | payloadLength));
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            header.Add(0x80 | 126);
            header.Add((byte)(payloadLength >> 8));
            header.Add((byte)payloadLength);
        }
        else
        {
            header.Add(0x80 | 127);
            var length = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(length, payloadLength);
            header.AddRange(length);
        }
        header.AddRange([0, 0, 0, 0]);
        await _stream.WriteAsync(header.ToArray());
    }

    /// <summary>Sends raw bytes (a payload, or a piece of one).</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Reads the next text frame; null once the server closed (see <see cref="CloseCode"/>) or the connection ended.</summary>
    public async Task<string?> ReceiveTextAsync(CancellationToken cancellationToken)
    {
        var message = new List<byte>();
        while (true)
        {
            var head = await ReadExactlyAsync(2, cancellationToken);
            if (head is null)
            {
                return null;
            }
            var fin = (head[0] & 0x80) != 0;
            var opcode = head[0] & 0x0F;
            long length = head[1] & 0x7F;
            if (length == 126)
            {
                length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2, cancellationToken) ?? new byte[2]);
            }
            else if (length == 127)
            {
                length = BinaryPrimitives.ReadInt64BigEndian(await ReadExactlyAsync(8, cancellationToken) ?? new byte[8]);
            }
            var payload = await ReadExactlyAsync((int)length, cancellationToken);
            if (payload is null)
            {
                return null;
            }
            if (opcode == 8)
            {
                CloseCode = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 1005;
                return null;
            }
            if (opcode is 9 or 10)
            {
                continue;
            }
            message.AddRange(payload);
            if (fin)
            {
                return Encoding.UTF8.GetString(message.ToArray());
            }
        }
    }

    private async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        var result = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            if (_pendingStart == _pendingEnd)
            {
                _pendingStart = 0;
                try
                {
                    _pendingEnd = await _stream.ReadAsync(_pending, cancellationToken);
                }
                catch (IOException)
                {
                    _pendingEnd = 0;
                }
                if (_pendingEnd == 0)
                {
                    return null;
                }
            }
            var take = Math.Min(count - filled, _pendingEnd - _pendingStart);
            _pending.AsSpan(_pendingStart, take).CopyTo(result.AsSpan(filled));
            _pendingStart += take;
            filled += take;
        }
        return result;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
