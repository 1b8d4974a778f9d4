using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Lockstep.Cli.Bench;

/// <summary>A raw protocol connection for the benchmark: it sends frames and hands every received frame to a callback.</summary>
internal sealed class BenchConnection : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly SemaphoreSlim _send = new(1, 1);
    private Task _receiving = Task.CompletedTask;

    /// <summary>Called for every received frame with its bytes; runs on the receive loop.</summary>
    public Action<ReadOnlyMemory<byte>>? OnFrame { get; set; }

    public long FramesReceived { get; private set; }

    public static async Task<BenchConnection> ConnectAsync(Uri url, string clientId, CancellationToken cancellationToken)
    {
        var connection = new BenchConnection();
        connection._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await connection._socket.ConnectAsync(url, cancellationToken);
        var welcome = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.OnFrame = _ => welcome.TrySetResult();
        connection._receiving = Task.Run(() => connection.ReceiveLoopAsync(cancellationToken), CancellationToken.None);
        await connection.SendAsync($"{{\"t\":\"hello\",\"id\":0,\"clientId\":{JsonSerializer.Serialize(clientId)},\"protocol\":1}}", cancellationToken);
        await welcome.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        return connection;
    }

    public async Task SendAsync(string frame, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(frame);
        await _send.WaitAsync(cancellationToken);
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancellationToken);
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
                OnFrame?.Invoke(buffer.AsMemory(0, length));
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
