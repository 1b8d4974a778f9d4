using System.Buffers;
using System.Net.WebSockets;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

/// <summary>A raw protocol connection for the benchmark: it sends frame records in its encoding and hands every received frame, read by the codec, to a callback.</summary>
internal sealed class BenchConnection : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly IFrameCodec _codec;
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly ArrayBufferWriter<byte> _output = new(1024);
    private Task _receiving = Task.CompletedTask;

    private BenchConnection(IFrameCodec codec)
    {
        _codec = codec;
    }

    /// <summary>Called for every received frame with the bytes it took on the wire (WebSocket header included); runs on the receive loop.</summary>
    public Action<Frame, int>? OnFrame { get; set; }

    public long FramesReceived { get; private set; }

    public static async Task<BenchConnection> ConnectAsync(Uri url, string clientId, IFrameCodec codec, CancellationToken cancellationToken)
    {
        var connection = new BenchConnection(codec);
        connection._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        connection._socket.Options.AddSubProtocol(codec.SubProtocol);
        await connection._socket.ConnectAsync(url, cancellationToken);
        // No subprotocol in the answer is a server of before the encodings: JSON.
        if ((connection._socket.SubProtocol ?? JsonFrameCodec.Name) != codec.SubProtocol)
        {
            await connection.DisposeAsync();
            throw new IOException($"The server at {url} does not speak {codec.SubProtocol}.");
        }
        var welcome = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.OnFrame = (_, _) => welcome.TrySetResult();
        connection._receiving = Task.Run(() => connection.ReceiveLoopAsync(cancellationToken), CancellationToken.None);
        await connection.SendAsync(new HelloFrame(RawJson.Number(0)) { ClientId = clientId, Protocol = 1 }, cancellationToken);
        await welcome.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        return connection;
    }

    public async Task SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        await _send.WaitAsync(cancellationToken);
        try
        {
            _output.ResetWrittenCount();
            _codec.Write(frame, _output);
            await _socket.SendAsync(_output.WrittenMemory, _codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, cancellationToken);
        }
        finally
        {
            _send.Release();
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 20];
        var length = 0;
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                length += result.Count;
                if (!result.EndOfMessage)
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    continue;
                }
                FramesReceived++;
                var frame = _codec.Read(buffer.AsMemory(0, length));
                OnFrame?.Invoke(frame, WireBytes(length));
                length = 0;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
    }

    /// <summary>The bytes a frame of this payload size takes on the wire from server to client (unmasked header).</summary>
    public static int WireBytes(int payload) => payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        _socket.Abort();
        await _receiving;
        _socket.Dispose();
        _send.Dispose();
    }
}
