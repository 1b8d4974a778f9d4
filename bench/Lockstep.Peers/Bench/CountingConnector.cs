using System.Net.Sockets;

namespace Lockstep.Peers.Bench;

/// <summary>
/// An HTTP handler whose sockets count every byte they read and write: the readers' bytes on the wire, whatever rides
/// on them (HTTP headers, WebSocket frames, SignalR's records, pings). One for all readers; the writer does not use it.
/// </summary>
internal sealed class CountingConnector : IDisposable
{
    private long _bytesRead;
    private long _bytesWritten;

    public CountingConnector()
    {
        Handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new CountingStream(new NetworkStream(socket, ownsSocket: true), this);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        Invoker = new HttpMessageInvoker(Handler, disposeHandler: false);
    }

    /// <summary>The handler, for <c>HttpClient</c>s (created with <c>disposeHandler: false</c>).</summary>
    public SocketsHttpHandler Handler { get; }

    /// <summary>The handler as an invoker, for <c>ClientWebSocket.ConnectAsync</c>.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Bytes read so far on every socket it opened.</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>Bytes written so far on every socket it opened (the readers' requests, WebSocket frames and pings).</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public void Dispose()
    {
        Invoker.Dispose();
        Handler.Dispose();
    }

    private sealed class CountingStream : Stream
    {
        private readonly Stream _inner;
        private readonly CountingConnector _counter;

        public CountingStream(Stream inner, CountingConnector counter)
        {
            _inner = inner;
            _counter = counter;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await _inner.ReadAsync(buffer, cancellationToken);
            Interlocked.Add(ref _counter._bytesRead, read);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = _inner.Read(buffer, offset, count);
            Interlocked.Add(ref _counter._bytesRead, read);
            return read;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref _counter._bytesWritten, buffer.Length);
            return _inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Add(ref _counter._bytesWritten, count);
            _inner.Write(buffer, offset, count);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

        public override void Flush() => _inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await _inner.DisposeAsync();
            await base.DisposeAsync();
        }
    }
}
