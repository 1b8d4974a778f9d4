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
    private readonly TaskCompletionSource<Frame> _welcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _receiving = Task.CompletedTask;

    private BenchConnection(IFrameCodec codec)
    {
        _codec = codec;
    }

    /// <summary>Called for every received frame with the bytes it took on the wire (WebSocket header included); runs on the receive loop.</summary>
    public Action<Frame, int>? OnFrame { get; set; }

    public long FramesReceived { get; private set; }

    /// <summary>The server's <c>welcome</c>.</summary>
    public WelcomeFrame Welcome { get; private set; } = null!;

    public static Task<BenchConnection> ConnectAsync(Uri url, string clientId, IFrameCodec codec, CancellationToken cancellationToken) =>
        ConnectAsync(url, new HelloFrame(RawJson.Number(0)) { ClientId = clientId, Protocol = 1 }, codec, null, null, cancellationToken);

    /// <summary>
    /// Connects, sends <paramref name="hello"/> and waits for the welcome. <paramref name="onFrame"/>, when given, is
    /// in place before the hello goes out, so it sees every frame after the welcome (those of <c>hello.subs</c> too).
    /// <paramref name="invoker"/>, when given, opens the socket (the bench's way to pick a loopback source address).
    /// </summary>
    public static async Task<BenchConnection> ConnectAsync(Uri url, HelloFrame hello, IFrameCodec codec, HttpMessageInvoker? invoker,
        Action<Frame, int>? onFrame, CancellationToken cancellationToken)
    {
        var connection = new BenchConnection(codec) { OnFrame = onFrame };
        connection._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        connection._socket.Options.AddSubProtocol(codec.SubProtocol);
        try
        {
            if (invoker is null)
            {
                await connection._socket.ConnectAsync(url, cancellationToken);
            }
            else
            {
                await connection._socket.ConnectAsync(url, invoker, cancellationToken);
            }
            // No subprotocol in the answer is a server of before the encodings: JSON.
            if ((connection._socket.SubProtocol ?? JsonFrameCodec.Name) != codec.SubProtocol)
            {
                throw new IOException($"The server at {url} does not speak {codec.SubProtocol}.");
            }
            connection._receiving = Task.Run(() => connection.ReceiveLoopAsync(cancellationToken), CancellationToken.None);
            await connection.SendAsync(hello, cancellationToken);
            var first = await connection._welcome.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            connection.Welcome = first as WelcomeFrame
                ?? throw new IOException(first is ErrorFrame error ? $"The hello was refused: {error.Code} {error.Message}" : $"The server answered the hello with {first.Type}.");
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
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
        // Small to start with: the fan-out and connection scenarios hold thousands of these; it grows for snapshots.
        var buffer = new byte[4096];
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
                if (!_welcome.Task.IsCompleted)
                {
                    _welcome.TrySetResult(frame);
                }
                else
                {
                    OnFrame?.Invoke(frame, WireBytes(length));
                }
                length = 0;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            _welcome.TrySetException(new IOException("The connection closed before the welcome."));
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
