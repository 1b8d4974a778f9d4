using System.Net.WebSockets;
using Lockstep.Protocol;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    private (ResiliencePipeline Reconnect, ResiliencePipeline[] Breakers, CircuitBreakerStateProvider[] States) BuildPipelines()
    {
        var handled = new PredicateBuilder().Handle<Exception>(e => !(e is OperationCanceledException && _disposing.IsCancellationRequested));
        var reconnect = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = handled,
                MaxRetryAttempts = int.MaxValue,
                DelayGenerator = args => new ValueTask<TimeSpan?>(BackoffDelay(args.AttemptNumber)),
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
        if (_forceFresh)
        {
            _forceFresh = false;
            foreach (var sub in _subs.Values)
            {
                sub.Established = false;
            }
        }
        var resumed = _subs.Values.Where(s => s.Established).Select(s => s.ToSpec()).ToList();
        return new HelloFrame(RawJson.FromString(RequestIds.Hello))
        {
            ClientId = ClientId,
            Protocol = 1,
            Token = token,
            Cursor = resumed.Count > 0 ? _cursor : null,
            Subs = resumed.Count > 0 ? resumed : null,
        };
    }

    private async Task RunConnectionAsync(Connection connection, CancellationToken stop)
    {
        lock (_gate)
        {
            foreach (var sub in _subs.Values.Where(s => !s.Established))
            {
                connection.SendSubscribe(sub);
            }
            // Replayed in their original order with their original numbers: the server answers each
            // one it already applied with its original result.
            foreach (var pending in _pending.Where(p => p.Ack is null).ToList())
            {
                Send(connection, pending);
            }
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
                    var inStep = HandleFrame(frame);
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
            foreach (var pending in _pending)
            {
                pending.SentAt = null;
            }
            foreach (var sub in _subs.Values)
            {
                sub.Requested = false;
                if (sub.SnapshotIds is not null)
                {
                    // A snapshot cut short is asked for again from the start.
                    sub.SnapshotIds = null;
                    sub.Established = false;
                }
            }
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
                if (_pending.FirstOrDefault(p => p.SentAt is not null) is { SentAt: { } sentAt } && now - sentAt > _options.RequestTimeout.TotalMilliseconds)
                {
                    throw new TimeoutException($"A write waited {now - sentAt} ms for its acknowledgement.");
                }
            }
        }
    }
}
