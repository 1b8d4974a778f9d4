using System.Net.WebSockets;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Lockstep.Client;

/// <summary>
/// Keeps the client connected: connects (with a fresh token from the provider each time), says hello resuming
/// the established subscriptions from the cursor, hands the connection to the subscriptions and the write
/// pipeline, feeds its frames to the <see cref="FrameHandler"/>, watches the heartbeat, and when it drops
/// reconnects with exponential backoff, full jitter and a circuit breaker per URL (Polly), failing over across
/// the URLs. Owns the connection state; its fields are guarded by the client's lock.
/// </summary>
internal sealed class ConnectionLoop
{
    private readonly Lock _gate;
    private readonly LockstepClientOptions _options;
    private readonly Uri[] _urls;
    private readonly string _clientId;
    private readonly LocalView _view;
    private readonly SubscriptionRegistry _subs;
    private readonly WritePipeline _writes;
    private readonly FrameHandler _frames;
    private readonly ILogger _logger;
    private readonly Action<ConnectionState> _stateChanged;
    private readonly CancellationToken _disposing;
    private readonly ResiliencePipeline _reconnect;
    private readonly ResiliencePipeline[] _breakers;
    private readonly CircuitBreakerStateProvider[] _breakerStates;
    private TaskCompletionSource _online = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Connection? _connection;
    private Task _loop = Task.CompletedTask;
    private int _urlIndex;
    private bool _forceFresh;
    private ConnectionState _state = ConnectionState.Offline;

    /// <summary>A loop over the client's parts; <c>stateChanged</c> is told of each state change, under the lock (it only queues the event).</summary>
    public ConnectionLoop(Lock gate, LockstepClientOptions options, string clientId, LocalView view, SubscriptionRegistry subs, WritePipeline writes,
        FrameHandler frames, ILogger logger, Action<ConnectionState> stateChanged, CancellationToken disposing)
    {
        _gate = gate;
        _options = options;
        _urls = [.. options.Urls];
        _clientId = clientId;
        _view = view;
        _subs = subs;
        _writes = writes;
        _frames = frames;
        _logger = logger;
        _stateChanged = stateChanged;
        _disposing = disposing;
        (_reconnect, _breakers, _breakerStates) = BuildPipelines();
    }

    /// <summary>The connection's state. Under the lock.</summary>
    public ConnectionState State => _state;

    /// <summary>The server connected to, or null. Under the lock.</summary>
    public Uri? ConnectedUrl => _connection?.Url;

    /// <summary>Completes when online. Under the lock.</summary>
    public Task Online => _online.Task;

    /// <summary>The loop, once started. Under the lock.</summary>
    public Task Running => _loop;

    /// <summary>Starts the loop unless it runs. Under the lock.</summary>
    public void Start()
    {
        if (_loop.IsCompleted)
        {
            SetState(ConnectionState.Connecting);
            _loop = Task.Run(() => RunAsync(_disposing), CancellationToken.None);
        }
    }

    /// <summary>The client is disposed: the state is final. Under the lock.</summary>
    public void Close() => SetState(ConnectionState.Closed);

    private void SetState(ConnectionState state)
    {
        // Called under the lock.
        if (_state == state || _state == ConnectionState.Closed)
        {
            return;
        }
        _state = state;
        if (state == ConnectionState.Online)
        {
            _online.TrySetResult();
        }
        else if (_online.Task.IsCompleted)
        {
            _online = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        _stateChanged(state);
    }

    private (ResiliencePipeline Reconnect, ResiliencePipeline[] Breakers, CircuitBreakerStateProvider[] States) BuildPipelines()
    {
        var handled = new PredicateBuilder().Handle<Exception>(e => !(e is OperationCanceledException && _disposing.IsCancellationRequested));
        var reconnect = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = handled,
                MaxRetryAttempts = int.MaxValue,
                DelayGenerator = args => new ValueTask<TimeSpan?>(Backoff.Delay(_options, args.AttemptNumber)),
                OnRetry = args =>
                {
                    lock (_gate)
                    {
                        SetState(ConnectionState.Offline);
                    }
                    Log.Reconnecting(_logger, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        var states = new CircuitBreakerStateProvider[_urls.Length];
        var breakers = new ResiliencePipeline[_urls.Length];
        for (var i = 0; i < _urls.Length; i++)
        {
            states[i] = new CircuitBreakerStateProvider();
            breakers[i] = new ResiliencePipelineBuilder()
                .AddCircuitBreaker(new CircuitBreakerStrategyOptions
                {
                    ShouldHandle = handled,
                    // Every attempt in the window failed, and at least this many: the endpoint is down.
                    FailureRatio = 1.0,
                    MinimumThroughput = _options.CircuitBreakerFailures,
                    SamplingDuration = TimeSpan.FromSeconds(60),
                    BreakDuration = _options.CircuitBreakDuration,
                    StateProvider = states[i],
                })
                .Build();
        }
        return (reconnect, breakers, states);
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Connection connection;
            try
            {
                connection = await _reconnect.ExecuteAsync(static (self, ct) => self.ConnectOnceAsync(ct), this, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            await RunConnectionAsync(connection, stop).ConfigureAwait(false);
        }
    }

    private async ValueTask<Connection> ConnectOnceAsync(CancellationToken cancellationToken)
    {
        int index;
        lock (_gate)
        {
            SetState(ConnectionState.Connecting);
            index = _urlIndex;
            // Skip endpoints whose circuit is open, if another is available.
            for (var k = 0; k < _urls.Length; k++)
            {
                var candidate = (_urlIndex + k) % _urls.Length;
                if (_breakerStates[candidate].CircuitState != CircuitState.Open)
                {
                    index = candidate;
                    break;
                }
            }
        }
        try
        {
            // With one URL there is nowhere else to go: its circuit would only add a wait.
            return _urls.Length == 1
                ? await ConnectToAsync(_urls[0], cancellationToken).ConfigureAwait(false)
                : await _breakers[index].ExecuteAsync(static (s, ct) => s.Self.ConnectToAsync(s.Url, ct), (Self: this, Url: _urls[index]), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_disposing.IsCancellationRequested)
        {
            lock (_gate)
            {
                // Fail over: the next attempt tries the next endpoint.
                _urlIndex = (index + 1) % _urls.Length;
            }
            throw;
        }
    }

    private async ValueTask<Connection> ConnectToAsync(Uri url, CancellationToken cancellationToken)
    {
        var codec = _options.Codec;
        var socket = new ClientWebSocket();
        // Liveness is the application heartbeat (ping/pong), which also proves the server is processing.
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.AddSubProtocol(codec.SubProtocol);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            await socket.ConnectAsync(url, timeout.Token).ConfigureAwait(false);
            CheckSubProtocol(url, codec, socket.SubProtocol);
            var token = _options.TokenProvider is { } provider ? await provider(timeout.Token).ConfigureAwait(false) : null;
            HelloFrame hello;
            lock (_gate)
            {
                hello = BuildHello(token);
            }
            await Connection.SendAsync(socket, codec, hello, timeout.Token).ConfigureAwait(false);
            return await Connection.ReceiveAsync(socket, codec, timeout.Token).ConfigureAwait(false) switch
            {
                WelcomeFrame welcome => new Connection(socket, codec, url, welcome),
                ErrorFrame error => throw LockstepException.FromFrame(error),
                null => throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The server closed the connection before its welcome."),
                var other => throw new InvalidDataException($"Expected welcome, got '{FrameTypes.Name(other.Type)}'."),
            };
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A server that answers no subprotocol speaks JSON (it may predate §11): fine when JSON was asked for, a
    /// refusal when MessagePack was — its frames would not be MessagePack.
    /// </summary>
    private static void CheckSubProtocol(Uri url, IFrameCodec codec, string? answered)
    {
        if (string.Equals(answered ?? JsonFrameCodec.Name, codec.SubProtocol, StringComparison.Ordinal))
        {
            return;
        }
        throw new LockstepException(ErrorCodes.UnsupportedProtocol.Code,
            $"The server at {url} did not agree to the {codec.SubProtocol} encoding (it answered {(answered is null ? "no subprotocol, which means JSON" : answered)}): "
            + "upgrade the server, or connect with LockstepEncoding.Json.");
    }

    private HelloFrame BuildHello(string? token)
    {
        var resumed = _subs.ToResume(_forceFresh);
        _forceFresh = false;
        return new HelloFrame(RawJson.FromString(RequestIds.Hello))
        {
            ClientId = _clientId,
            Protocol = 1,
            Token = token,
            Cursor = resumed.Count > 0 ? _view.Cursor : null,
            Subs = resumed.Count > 0 ? resumed : null,
        };
    }

    private async Task RunConnectionAsync(Connection connection, CancellationToken stop)
    {
        lock (_gate)
        {
            _subs.Attach(connection);
            _writes.Attach(connection);
            _connection = connection;
            SetState(ConnectionState.Online);
        }
        Log.Connected(_logger, connection.Url, connection.Welcome.Head, connection.Welcome.Resumable);
        string reason;
        using (stop.Register(connection.Abort))
        {
            var send = connection.SendLoopAsync();
            var heartbeat = HeartbeatLoopAsync(connection);
            var receive = connection.ReceiveLoopAsync(frame =>
            {
                lock (_gate)
                {
                    var inStep = _frames.Handle(frame);
                    _forceFresh |= !inStep;
                    return inStep;
                }
            });
            var first = await Task.WhenAny(send, heartbeat, receive).ConfigureAwait(false);
            reason = first.Exception?.GetBaseException().Message ?? (first == receive ? "resynchronizing" : "stopped");
            connection.Abort();
            try
            {
                await Task.WhenAll(send, heartbeat, receive).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // The connection is over; how each loop ended was logged as the reason.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
        if (!stop.IsCancellationRequested)
        {
            Log.Disconnected(_logger, connection.Url, reason);
        }
        lock (_gate)
        {
            if (_connection == connection)
            {
                _connection = null;
            }
            _writes.Detach(connection);
            _subs.Detach(connection);
            if (!stop.IsCancellationRequested)
            {
                SetState(ConnectionState.Connecting);
            }
        }
        connection.Dispose();
    }

    private async Task HeartbeatLoopAsync(Connection connection)
    {
        var interval = _options.HeartbeatInterval ?? TimeSpan.FromMilliseconds(connection.Welcome.HeartbeatMs > 0 ? connection.Welcome.HeartbeatMs : 15_000);
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(interval.TotalMilliseconds / 4, 20, 1000));
        var intervalMs = (long)interval.TotalMilliseconds;
        var lastPing = Environment.TickCount64;
        using var timer = new PeriodicTimer(tick);
        while (await timer.WaitForNextTickAsync(connection.Stopping).ConfigureAwait(false))
        {
            var now = Environment.TickCount64;
            if (now - connection.LastReceived > 2 * intervalMs)
            {
                throw new TimeoutException($"Nothing received for {now - connection.LastReceived} ms (heartbeat {intervalMs} ms).");
            }
            if (now - lastPing >= intervalMs)
            {
                connection.SendPing();
                lastPing = now;
            }
            lock (_gate)
            {
                if (_writes.FirstSentAt() is { } sentAt && now - sentAt > _options.RequestTimeout.TotalMilliseconds)
                {
                    throw new TimeoutException($"A write waited {now - sentAt} ms for its acknowledgement.");
                }
            }
        }
    }
}
