using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>
/// One WebSocket connection. Three loops share it: the receive loop reads requests; the pump sends
/// the connection's stream (snapshots, changes, positions) in seq order from a bounded inbox,
/// falling back to reading the log when the inbox overflows; a timer enforces the idle timeout and
/// emits heartbeat ticks. Replies and stream frames go out one at a time under a send lock.
/// </summary>
internal sealed partial class SyncSession : IChangeListener, IDisposable
{
    private readonly WebSocket _socket;
    private readonly LockstepEngine _engine;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly RequestBudget _budget;
    private readonly RequestDispatcher _dispatcher;
    private readonly IFrameCodec _codec;
    private readonly FrameBuffer _replyBuffer;
    private readonly FrameBuffer _streamBuffer;
    private readonly Channel<object> _inbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _closing;
    private readonly CancellationTokenRegistration _shutdown;
    private IReadOnlySet<string> _collections = new HashSet<string>(StringComparer.Ordinal);
    private long _queuedChanges;
    private long _queuedBytes;
    private int _overflowed;
    private readonly FrameReader _reader;
    private int _closeStarted;

    private readonly IServiceProvider _services;

    /// <summary>Who is on the other end: from the upgrade request's Authorization header, else from the hello's token.</summary>
    private Caller? _caller;
    private readonly System.Net.IPAddress? _remoteAddress;

    /// <summary>Times frames as their bytes cross the wire (null when the socket was not built on a clocked stream).</summary>
    private readonly InboundFrameClock? _wireClock;

    public SyncSession(WebSocket socket, LockstepEngine engine, ILogger logger, TimeProvider time, IServiceProvider services, Caller? caller,
        System.Net.IPAddress? remoteAddress, InboundFrameClock? wireClock, IFrameCodec codec, CancellationToken aborted)
    {
        _codec = codec;
        _replyBuffer = new FrameBuffer(codec);
        _streamBuffer = new FrameBuffer(codec);
        _wireClock = wireClock;
        _services = services;
        _caller = caller;
        _remoteAddress = remoteAddress;
        _socket = socket;
        _engine = engine;
        _options = engine.Options;
        _logger = logger;
        _time = time;
        // Until a page shows how large this connection's changes are, guess them at 16 KiB each.
        _catchUpPageSize = (int)Math.Clamp(_options.SendBufferBytes / (16 * 1024), 1, _options.CatchUpPageSize);
        _closing = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        // On shutdown, say goodbye with 1001 (cancelling a pending receive would abort the socket
        // instead, and the client would see a reset rather than "going away").
        _shutdown = engine.ClosingConnections.Register(() => _ = CloseAsync(CloseCodes.GoingAway, ErrorCodes.ShuttingDown.Code));
        Id = "s-" + Guid.NewGuid().ToString("N")[..12];
        _reader = new FrameReader(socket, codec, _options.MaxFrameBytes, time);
        _budget = new RequestBudget(_options.MaxFilterBytesPerConnection);
        _dispatcher = new RequestDispatcher(this, engine, logger, _reader, _budget, remoteAddress);
    }

    public string Id { get; }

    /// <summary>Who is on the other end (set by the hello).</summary>
    internal Caller? Caller => _caller;

    /// <summary>Queues a command for the pump.</summary>
    internal void Enqueue(object command) => _inbox.Writer.TryWrite(command);

    public string? ClientId { get; private set; }

    /// <summary>The connection's place in the server's limits: pending until the hello succeeds.</summary>
    public ConnectionSlot? Slot { get; init; }

    /// <summary>The client id this session counts against <see cref="LockstepOptions.MaxConnectionsPerClient"/>.</summary>
    private string? _countedClient;

    /// <summary>Runs the connection until it closes.</summary>
    public async Task RunAsync()
    {
        var token = _closing.Token;
        Task pump = Task.CompletedTask;
        Task timer = Task.CompletedTask;
        try
        {
            if (!await HelloAsync(token))
            {
                return;
            }
            pump = Task.Run(() => PumpAsync(token), CancellationToken.None);
            timer = Task.Run(() => TimerAsync(token), CancellationToken.None);
            if (_caller?.Expires is { } expires)
            {
                _ = ExpireAsync(expires, token);
            }
            await ReceiveLoopAsync(token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            Log.SessionClosed(_logger, Id, e.GetType().Name);
        }
        catch (Exception e)
        {
            Log.SessionFailed(_logger, e, Id);
            await CloseAsync(CloseCodes.InternalError, ErrorCodes.InternalError.Code);
        }
        finally
        {
            _engine.FanOut.Remove(this);
            if (_countedClient is not null)
            {
                _engine.CloseClientConnection(_countedClient);
            }
            await _shutdown.DisposeAsync();
            if (Volatile.Read(ref _closeStarted) != 0 && _socket.State == WebSocketState.CloseSent)
            {
                // Let the client read what was sent and answer the close: aborting now would reset the
                // connection and could discard the error frame that explains the close.
                await Quietly(DrainUntilClosedAsync(_closing.Token));
            }
            await _closing.CancelAsync();
            _inbox.Writer.TryComplete();
            await Task.WhenAll(Quietly(pump), Quietly(timer));
            _socket.Abort();
            Dispose();
        }
    }

    /// <summary>Releases the session's buffers and locks; called when <see cref="RunAsync"/> ends.</summary>
    public void Dispose()
    {
        _closing.Dispose();
        _sendLock.Dispose();
        _dispatcher.Dispose();
        _budget.Dispose();
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // the loop's failure already ended the session
        }
    }

    /// <summary>Starts the closing handshake once; the receive loop ends when the client answers or the grace period runs out.</summary>
    private async Task CloseAsync(int code, string reason)
    {
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0)
        {
            return;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _sendLock.WaitAsync(timeout.Token);
            try
            {
                if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await _socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        // Give the client a moment to answer the close, then stop everything.
        _closing.CancelAfter(TimeSpan.FromSeconds(2));
    }

    /// <summary>Sends one frame; the caller must not hold the send lock.</summary>
    private async ValueTask SendAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            await _socket.SendAsync(frame, MessageType, endOfMessage: true, cancellationToken);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The WebSocket message type of this connection's encoding.</summary>
    private WebSocketMessageType MessageType => _codec.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;

    /// <summary>Encodes a reply in the shared reply buffer and sends it, both under the send lock.</summary>
    internal async ValueTask ReplyAsync(Frame frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            await _socket.SendAsync(_replyBuffer.Encode(frame), MessageType, endOfMessage: true, cancellationToken);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    internal ValueTask ReplyErrorAsync(JsonElement id, Rejection rejection, CancellationToken cancellationToken) =>
        ReplyAsync(Frames.Error(Frames.Id(id), rejection), cancellationToken);

    internal ValueTask ReplyErrorAsync(JsonElement id, ErrorCode code, string message, CancellationToken cancellationToken) =>
        ReplyErrorAsync(id, new Rejection(code, message), cancellationToken);

    /// <inheritdoc />
    public void Offer(ChangeBatch batch)
    {
        if (Volatile.Read(ref _overflowed) != 0 || !Concerns(batch))
        {
            return;
        }
        var queued = Interlocked.Add(ref _queuedChanges, batch.Changes.Count);
        var queuedBytes = Interlocked.Add(ref _queuedBytes, batch.Bytes);
        // Bounded by bytes as well as by changes: a few thousand large changes are already a lot of memory.
        // One batch larger than the whole buffer is still taken when nothing else waits.
        if ((queued > _options.SendBufferChanges || queuedBytes > _options.SendBufferBytes) && queued != batch.Changes.Count)
        {
            Interlocked.Add(ref _queuedChanges, -batch.Changes.Count);
            Interlocked.Add(ref _queuedBytes, -batch.Bytes);
            Overflow();
            return;
        }
        _engine.Metrics.Queued(queued);
        _inbox.Writer.TryWrite(batch);
    }

    public void Overflow()
    {
        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _inbox.Writer.TryWrite(OverflowCommand.Instance);
        }
    }

    private bool Concerns(ChangeBatch batch)
    {
        var mine = Volatile.Read(ref _collections);
        if (mine.Count == 0)
        {
            return false;
        }
        foreach (var collection in batch.Collections)
        {
            if (mine.Contains(collection))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Closes the connection when its credentials expire: the client reconnects with a fresh token (the SDKs ask their token provider at every connection).</summary>
    private async Task ExpireAsync(DateTimeOffset expires, CancellationToken cancellationToken)
    {
        try
        {
            var delay = expires - _time.GetUtcNow();
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _time, cancellationToken);
            }
            Log.SessionClosed(_logger, Id, "token expired");
            await ReplyErrorAsync(default, ErrorCodes.TokenExpired, "The token expired; reconnect with a fresh one.", cancellationToken);
            await CloseAsync(CloseCodes.TokenExpired, ErrorCodes.TokenExpired.Code);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // the session ended first
        }
    }

    /// <summary>
    /// True when a frame began longer than <see cref="LockstepOptions.FrameTimeout"/> ago and is not whole:
    /// a message sent in pieces (seen by the receive loop), or one WebSocket frame whose bytes trickle in
    /// (seen only on the wire, since a receive returns nothing until its buffer fills or the frame ends).
    /// </summary>
    private bool FrameOverdue()
    {
        var message = _reader.FrameStarted;
        var wire = _wireClock?.FrameStarted ?? 0;
        return (message != 0 && _time.GetElapsedTime(message) > _options.FrameTimeout)
            || (wire != 0 && _time.GetElapsedTime(wire) > _options.FrameTimeout);
    }

    private async Task TimerAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks,
            Math.Min(_options.HeartbeatInterval.Ticks, _options.IdleTimeout.Ticks / 4)));
        using var timer = new PeriodicTimer(period, _time);
        var lastTick = _time.GetTimestamp();
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            if (FrameOverdue())
            {
                Log.SessionClosed(_logger, Id, "frame timeout");
                await ReplyErrorAsync(default, ErrorCodes.FrameTimeout, $"A frame must arrive whole within {_options.FrameTimeout.TotalSeconds} s.", cancellationToken);
                await CloseAsync(CloseCodes.FrameTimeout, ErrorCodes.FrameTimeout.Code);
                return;
            }
            if (_time.GetElapsedTime(_reader.LastReceived) > _options.IdleTimeout)
            {
                Log.SessionClosed(_logger, Id, "idle timeout");
                await CloseAsync(CloseCodes.IdleTimeout, ErrorCodes.IdleTimeout.Code);
                return;
            }
            if (_time.GetElapsedTime(lastTick) >= _options.HeartbeatInterval)
            {
                lastTick = _time.GetTimestamp();
                _inbox.Writer.TryWrite(new TickCommand(_engine.FanOut.Head));
            }
        }
    }
}
