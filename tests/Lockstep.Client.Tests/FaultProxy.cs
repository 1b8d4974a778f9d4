using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Lockstep.Client.Tests;

/// <summary>
/// A TCP proxy on 127.0.0.1 between a client and a server that injects the network faults a test
/// switches on while it runs: latency, a silently dead network, refused connections, resets, and
/// cuts in the middle of a WebSocket frame.
/// </summary>
/// <remarks>
/// Each accepted connection gets its own connection to the target. Each direction has a reader,
/// which takes chunks of up to 4 KiB off the socket, and a writer, which delivers them in order once
/// <see cref="Delay"/> has passed, in pieces of at most <see cref="MaxChunkBytes"/>. Faults act at
/// delivery, so switching one on also catches bytes already in flight. Random choices (piece sizes,
/// probabilistic cuts) come from one <see cref="Random"/> seeded in the constructor; the decisions
/// are repeatable, though which bytes they land on still depends on how the peers' writes are read.
/// </remarks>
public sealed class FaultProxy : IAsyncDisposable
{
    private const int ReadBufferBytes = 4096;
    private const int ChunksInFlight = 64;
    private static readonly TimeSpan BlackholePoll = TimeSpan.FromMilliseconds(20);

    private readonly IPEndPoint _target;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    // Guards _random, _cut and _connectionTasks.
    private readonly Lock _gate = new();
    private readonly Random _random;
    private readonly List<Task> _connectionTasks = [];
    private readonly Task _acceptLoop;
    private CutPlan? _cut;
    private long _delayTicks;
    private double _cutProbability;
    private int _maxChunkBytes = ReadBufferBytes;
    private volatile bool _randomChunkSizes;
    private volatile bool _blackhole;
    private volatile bool _refuseNew;
    private long _nextConnectionId;
    private int _accepted;
    private int _refused;
    private int _cuts;
    private long _bytesToServer;
    private long _bytesToClient;
    private int _disposed;

    /// <summary>Starts listening on 127.0.0.1 and a free port, forwarding every connection to <paramref name="target"/>.</summary>
    /// <param name="target">The server's endpoint.</param>
    /// <param name="seed">Seeds every random choice the proxy makes.</param>
    public FaultProxy(IPEndPoint target, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = target;
        _random = new Random(seed);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen();
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        Url = new Uri($"ws://127.0.0.1:{Port}");
        SyncUrl = UrlFor("/v1/sync");
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Starts a proxy in front of the server at <paramref name="target"/>, e.g. <c>http://127.0.0.1:5080</c>.</summary>
    /// <param name="target">The server's URL; only its host (an IP address or localhost) and port are used.</param>
    /// <param name="seed">Seeds every random choice the proxy makes.</param>
    public FaultProxy(Uri target, int seed = 1)
        : this(ToEndPoint(target), seed)
    {
    }

    /// <summary>The port the proxy listens on, on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The proxy's base URL, <c>ws://127.0.0.1:{Port}</c>.</summary>
    public Uri Url { get; }

    /// <summary>The sync endpoint through the proxy, <c>ws://127.0.0.1:{Port}/v1/sync</c>.</summary>
    public Uri SyncUrl { get; }

    /// <summary>Latency added to every chunk in both directions; order within a direction is kept.</summary>
    /// <value>Zero. A change applies to chunks read after it.</value>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Volatile.Read(ref _delayTicks));
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            Volatile.Write(ref _delayTicks, value.Ticks);
        }
    }

    /// <summary>
    /// When true, the network is dead: bytes are still read from both sides but dropped for good, and
    /// connections stay open, so only a heartbeat can tell. A FIN is held back until it is off again.
    /// </summary>
    /// <value>False.</value>
    public bool Blackhole
    {
        get => _blackhole;
        set => _blackhole = value;
    }

    /// <summary>When true, every newly accepted connection is reset at once, as when the server is down.</summary>
    /// <value>False.</value>
    public bool RefuseNew
    {
        get => _refuseNew;
        set => _refuseNew = value;
    }

    /// <summary>The chance that a delivered piece is cut: a random part of it is delivered, then the connection is reset.</summary>
    /// <value>0 (never).</value>
    public double CutProbabilityPerChunk
    {
        get => Volatile.Read(ref _cutProbability);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1);
            Volatile.Write(ref _cutProbability, value);
        }
    }

    /// <summary>The largest piece written to a socket at once; small values split WebSocket frames across writes.</summary>
    /// <value>4096.</value>
    public int MaxChunkBytes
    {
        get => Volatile.Read(ref _maxChunkBytes);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _maxChunkBytes, value);
        }
    }

    /// <summary>When true, each piece has a random size between 1 and <see cref="MaxChunkBytes"/>.</summary>
    /// <value>False.</value>
    public bool RandomChunkSizes
    {
        get => _randomChunkSizes;
        set => _randomChunkSizes = value;
    }

    /// <summary>Connections accepted and forwarded (refused ones not included).</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _accepted);

    /// <summary>Connections reset on accept because <see cref="RefuseNew"/> was on.</summary>
    public int ConnectionsRefused => Volatile.Read(ref _refused);

    /// <summary>Forwarded connections not yet closed or cut.</summary>
    public int ActiveConnections => _connections.Count;

    /// <summary>Connections cut by <see cref="CutAll"/>, <see cref="CutAfter"/> or <see cref="CutProbabilityPerChunk"/>.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Bytes delivered, both directions together.</summary>
    public long BytesForwarded => GetBytesForwarded(FaultDirection.Both);

    /// <summary>Bytes delivered in one direction, or in both.</summary>
    public long GetBytesForwarded(FaultDirection direction) => direction switch
    {
        FaultDirection.ClientToServer => Interlocked.Read(ref _bytesToServer),
        FaultDirection.ServerToClient => Interlocked.Read(ref _bytesToClient),
        _ => Interlocked.Read(ref _bytesToServer) + Interlocked.Read(ref _bytesToClient),
    };

    /// <summary>A URL through the proxy, e.g. <c>UrlFor("/v1/sync")</c>.</summary>
    public Uri UrlFor(string pathAndQuery) => new(Url, pathAndQuery);

    /// <summary>Resets every open connection now (RST to both peers).</summary>
    public void CutAll()
    {
        foreach (var connection in _connections.Values)
        {
            connection.Abort(cut: true);
        }
    }

    /// <summary>
    /// Arms one cut: once <paramref name="bytes"/> more bytes have been delivered in
    /// <paramref name="direction"/> (on any connection), the connection that delivered the last of them
    /// is reset. With a small count the cut lands inside the next WebSocket frame. Replaces a cut armed
    /// earlier that has not fired yet.
    /// </summary>
    public void CutAfter(FaultDirection direction, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gate)
        {
            _cut = new CutPlan(direction, bytes);
        }
    }

    /// <summary>Waits, polling, until <paramref name="condition"/> holds; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<FaultProxy, bool> condition, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var started = Stopwatch.GetTimestamp();
        while (!condition(this))
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new TimeoutException($"The proxy did not reach the condition within {timeout}: accepted {ConnectionsAccepted}, " +
                    $"active {ActiveConnections}, refused {ConnectionsRefused}, cuts {Cuts}, bytes {BytesForwarded}.");
            }
            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>Stops listening, resets every connection and waits for all of the proxy's work to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _acceptLoop;
        }
        finally
        {
            foreach (var connection in _connections.Values)
            {
                connection.Abort();
            }
            Task[] running;
            lock (_gate)
            {
                running = [.. _connectionTasks];
            }
            // Faults in the pumps (anything but the network ending) surface here, so a test that disposes sees them.
            await Task.WhenAll(running);
            _stop.Dispose();
        }
    }

    private static IPEndPoint ToEndPoint(Uri target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!target.IsAbsoluteUri)
        {
            throw new ArgumentException("The target must be an absolute URL such as http://127.0.0.1:5080.", nameof(target));
        }
        if (IPAddress.TryParse(target.DnsSafeHost, out var address))
        {
            return new IPEndPoint(address, target.Port);
        }
        if (target.IsLoopback)
        {
            return new IPEndPoint(IPAddress.Loopback, target.Port);
        }
        throw new ArgumentException("The target host must be an IP address or localhost, so the proxy never resolves names: " + target, nameof(target));
    }

    // The ways a socket operation ends when the peer, a fault or disposal closes the connection.
    private static bool IsConnectionEnd(Exception e) =>
        e is SocketException or ObjectDisposedException or OperationCanceledException or IOException;

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            bytes = bytes[sent..];
        }
    }

    private async Task AcceptLoopAsync()
    {
        var stopping = _stop.Token;
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(stopping);
            }
            catch (Exception e) when (IsConnectionEnd(e))
            {
                if (stopping.IsCancellationRequested)
                {
                    return;
                }
                // A client that reset before it was accepted; the listener itself is fine.
                continue;
            }
            if (RefuseNew)
            {
                Interlocked.Increment(ref _refused);
                client.Close(0);
                continue;
            }
            var server = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            var connection = new Connection(this, Interlocked.Increment(ref _nextConnectionId), client, server);
            _connections[connection.Id] = connection;
            Interlocked.Increment(ref _accepted);
            var running = connection.RunAsync();
            lock (_gate)
            {
                // Faulted tasks stay, so DisposeAsync observes them.
                _connectionTasks.RemoveAll(t => t.IsCompletedSuccessfully);
                _connectionTasks.Add(running);
            }
        }
    }

    private int NextPieceSize(int left)
    {
        var max = Math.Min(left, MaxChunkBytes);
        if (!RandomChunkSizes)
        {
            return max;
        }
        lock (_gate)
        {
            return _random.Next(1, max + 1);
        }
    }

    // How many bytes of the next piece to deliver before cutting the connection, or -1 for no cut.
    private int DecideCut(FaultDirection direction, int size)
    {
        lock (_gate)
        {
            if (_cut is { } plan && (plan.Direction == FaultDirection.Both || plan.Direction == direction))
            {
                if (plan.Remaining <= size)
                {
                    _cut = null;
                    return (int)plan.Remaining;
                }
                plan.Remaining -= size;
            }
            var probability = CutProbabilityPerChunk;
            if (probability > 0 && _random.NextDouble() < probability)
            {
                return _random.Next(size);
            }
            return -1;
        }
    }

    private void CountDelivered(FaultDirection direction, int bytes)
    {
        if (direction == FaultDirection.ClientToServer)
        {
            Interlocked.Add(ref _bytesToServer, bytes);
        }
        else
        {
            Interlocked.Add(ref _bytesToClient, bytes);
        }
    }

    private sealed class CutPlan(FaultDirection direction, long remaining)
    {
        public FaultDirection Direction { get; } = direction;

        public long Remaining { get; set; } = remaining;
    }

    private readonly record struct Chunk(byte[] Bytes, long ReadAt, TimeSpan Delay);

    /// <summary>One proxied connection: the accepted client socket, its socket to the server, and a pump each way.</summary>
    private sealed class Connection(FaultProxy proxy, long id, Socket client, Socket server)
    {
        private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(proxy._stop.Token);
        private int _closed;

        public long Id { get; } = id;

        public async Task RunAsync()
        {
            var cancellationToken = _cancel.Token;
            try
            {
                // Small pieces must leave as separate segments, or the split would not reach the peer.
                client.NoDelay = true;
                server.NoDelay = true;
                await server.ConnectAsync(proxy._target, cancellationToken);
                await Task.WhenAll(
                    PumpAsync(client, server, FaultDirection.ClientToServer, cancellationToken),
                    PumpAsync(server, client, FaultDirection.ServerToClient, cancellationToken));
            }
            catch (Exception e) when (IsConnectionEnd(e))
            {
                Abort();
            }
            finally
            {
                Release();
            }
        }

        /// <summary>Resets both sockets; false when the connection had already ended.</summary>
        /// <summary>Resets both sides once; a fault's cut is counted before the peers can see the reset.</summary>
        public bool Abort(bool cut = false)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return false;
            }
            if (cut)
            {
                Interlocked.Increment(ref proxy._cuts);
            }
            proxy._connections.TryRemove(Id, out _);
            // Close(0) is an abortive close: linger 0, so both peers get a RST rather than a FIN.
            client.Close(0);
            server.Close(0);
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Release won the race; the pumps are done already.
            }
            return true;
        }

        private void Release()
        {
            Interlocked.Exchange(ref _closed, 1);
            proxy._connections.TryRemove(Id, out _);
            client.Dispose();
            server.Dispose();
            _cancel.Dispose();
        }

        private async Task PumpAsync(Socket from, Socket to, FaultDirection direction, CancellationToken cancellationToken)
        {
            var chunks = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(ChunksInFlight) { SingleReader = true, SingleWriter = true });
            await Task.WhenAll(
                EndOnErrorAsync(ReceiveAsync(from, chunks.Writer, cancellationToken)),
                EndOnErrorAsync(DeliverAsync(chunks.Reader, to, direction, cancellationToken)));
        }

        private async Task EndOnErrorAsync(Task pump)
        {
            try
            {
                await pump;
            }
            catch (Exception e)
            {
                // Either way the other pumps of this connection must stop; only a bug is worth reporting (at DisposeAsync).
                Abort();
                if (!IsConnectionEnd(e))
                {
                    throw;
                }
            }
        }

        private async Task ReceiveAsync(Socket from, ChannelWriter<Chunk> chunks, CancellationToken cancellationToken)
        {
            var buffer = new byte[ReadBufferBytes];
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    chunks.TryComplete();
                    return;
                }
                await chunks.WriteAsync(new Chunk(buffer[..read], Stopwatch.GetTimestamp(), proxy.Delay), cancellationToken);
            }
        }

        private async Task DeliverAsync(ChannelReader<Chunk> chunks, Socket to, FaultDirection direction, CancellationToken cancellationToken)
        {
            await foreach (var chunk in chunks.ReadAllAsync(cancellationToken))
            {
                var wait = chunk.Delay - Stopwatch.GetElapsedTime(chunk.ReadAt);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken);
                }
                var offset = 0;
                while (offset < chunk.Bytes.Length && !proxy.Blackhole)
                {
                    var size = proxy.NextPieceSize(chunk.Bytes.Length - offset);
                    var cutAt = proxy.DecideCut(direction, size);
                    var deliver = cutAt < 0 ? size : cutAt;
                    await SendAllAsync(to, chunk.Bytes.AsMemory(offset, deliver), cancellationToken);
                    proxy.CountDelivered(direction, deliver);
                    if (cutAt >= 0)
                    {
                        Abort(cut: true);
                        return;
                    }
                    offset += size;
                }
            }
            // The sender closed its side. A dead network holds the FIN back (TCP would retransmit it), then passes it on.
            while (proxy.Blackhole)
            {
                await Task.Delay(BlackholePoll, cancellationToken);
            }
            to.Shutdown(SocketShutdown.Send);
        }
    }
}
