using System.Globalization;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>
/// A connection to Lockstep that keeps a live local view of the collections it subscribes to and
/// queues every write with a mutation number, so that whatever the network does each write takes
/// effect exactly once. Reconnects with exponential backoff, full jitter and a circuit breaker per
/// URL (Polly), fails over across <see cref="LockstepClientOptions.Urls"/>, and resumes its
/// subscriptions from its cursor. Thread-safe.
/// </summary>
public sealed partial class LockstepClient : IAsyncDisposable
{
    private const long MidBlock = 10_000;
    private readonly LockstepClientOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly Dictionary<string, CollectionState> _collections = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, Type), object> _typed = [];
    private readonly Dictionary<string, SubscriptionState> _subs = new(StringComparer.Ordinal);
    private readonly List<PendingWrite> _pending = [];
    private readonly Dictionary<long, PendingWrite> _pendingByMid = [];
    private readonly ResiliencePipeline _reconnect;
    private readonly Uri[] _urls;
    private readonly ResiliencePipeline[] _breakers;
    private readonly Polly.CircuitBreaker.CircuitBreakerStateProvider[] _breakerStates;
    private readonly LocalStore? _store;
    private readonly EventDispatcher _events;
    private TaskCompletionSource _online = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Connection? _connection;
    private Task _loop = Task.CompletedTask;
    private Task _flushLoop = Task.CompletedTask;
    private long _cursor;
    private long _nextMid;
    private long _midReserved;
    private int _urlIndex;
    private bool _forceFresh;
    private bool _disposed;
    private ConnectionState _state = ConnectionState.Offline;

    /// <summary>Creates a client from options (see also <see cref="LockstepClientBuilder"/>); call <see cref="StartAsync"/> or <see cref="Start"/> to connect.</summary>
    public LockstepClient(LockstepClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _urls = [.. options.Urls];
        _logger = options.LoggerFactory?.CreateLogger<LockstepClient>() ?? NullLogger<LockstepClient>.Instance;
        _events = new EventDispatcher(options.EventContext, _logger);
        (_reconnect, _breakers, _breakerStates) = BuildPipelines();
        if (options.UseLocalStore)
        {
            _store = LocalStore.Open(options.ResolveStorePath());
            try
            {
                ClientId = Restore(_store);
            }
            catch
            {
                _store.Dispose();
                throw;
            }
        }
        else
        {
            ClientId = options.ClientId ?? "c-" + Guid.NewGuid().ToString("N");
            // Numbers must not repeat across runs of a process that keeps its ClientId: start from the clock.
            _nextMid = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
            _midReserved = long.MaxValue;
        }
    }

    /// <summary>This client's id (see <see cref="LockstepClientOptions.ClientId"/>).</summary>
    public string ClientId { get; }

    /// <summary>The connection's state.</summary>
    public ConnectionState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Raised when <see cref="State"/> changes, on the event context, in order.</summary>
    public event EventHandler<ConnectionState>? StateChanged;

    /// <summary>Writes not yet acknowledged by the server (queued offline, or in flight).</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count(p => p.Ack is null);
            }
        }
    }

    /// <summary>The last log position this client has fully applied.</summary>
    public long Cursor
    {
        get
        {
            lock (_gate)
            {
                return _cursor;
            }
        }
    }

    /// <summary>The server this client is connected to, or null.</summary>
    public Uri? ConnectedUrl
    {
        get
        {
            lock (_gate)
            {
                return _connection?.Url;
            }
        }
    }

    /// <summary>Starts connecting in the background and returns at once; the client keeps trying until disposed.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_loop.IsCompleted)
            {
                SetState(ConnectionState.Connecting);
                _loop = Task.Run(() => RunAsync(_disposing.Token), CancellationToken.None);
            }
            if (_store is not null && _flushLoop.IsCompleted)
            {
                _flushLoop = Task.Run(() => FlushLoopAsync(_disposing.Token), CancellationToken.None);
            }
        }
    }

    /// <summary>Starts connecting and waits until the client is online (or the token fires; it keeps trying afterwards).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        Start();
        await WaitOnlineAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes when the client is online.</summary>
    public Task WaitOnlineAsync(CancellationToken cancellationToken = default)
    {
        Task online;
        lock (_gate)
        {
            online = _online.Task;
        }
        return online.WaitAsync(cancellationToken);
    }

    /// <summary>Completes when every write queued so far has been acknowledged or refused.</summary>
    public async Task WaitForPendingAsync(CancellationToken cancellationToken = default)
    {
        Task[] waits;
        lock (_gate)
        {
            waits = [.. _pending.Where(p => p.Ack is null).Select(p => p.Completion)];
        }
        try
        {
            await Task.WhenAll(waits).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (LockstepException)
        {
            // Refusals belong to the callers of the writes; this only waits.
        }
    }

    /// <summary>A collection of untyped documents.</summary>
    public LockstepCollection<JsonObject> Collection(string name) => Collection<JsonObject>(name);

    /// <summary>A collection whose documents are read and written as <typeparamref name="T"/> (System.Text.Json, <see cref="LockstepClientOptions.JsonOptions"/>).</summary>
    public LockstepCollection<T> Collection<T>(string name)
    {
        if (!Names.IsValidCollection(name))
        {
            throw new ArgumentException($"'{name}' is not a valid collection name.", nameof(name));
        }
        lock (_gate)
        {
            if (!_typed.TryGetValue((name, typeof(T)), out var collection))
            {
                _typed[(name, typeof(T))] = collection = new LockstepCollection<T>(this, name);
            }
            return (LockstepCollection<T>)collection;
        }
    }

    /// <summary>Calls a server-side mutator; queued like any write and applied exactly once.</summary>
    public Task<WriteAck> CallAsync(string name, JsonNode? args, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var frame = new JsonObject { ["t"] = "call", ["name"] = name, ["args"] = args?.DeepClone() };
        return EnqueueAsync(frame, [], cancellationToken);
    }

    /// <summary>Calls a server-side mutator (the same as <see cref="CallAsync"/>).</summary>
    public Task<WriteAck> MutateAsync(string name, JsonNode? args, CancellationToken cancellationToken = default) =>
        CallAsync(name, args, cancellationToken);

    /// <summary>Applies several ops atomically (all or none).</summary>
    public Task<WriteAck> MutateAsync(IEnumerable<WriteOp> ops, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var list = ops.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("A mutation needs at least one op.", nameof(ops));
        }
        var frame = new JsonObject { ["t"] = "mut", ["ops"] = new JsonArray([.. list.Select(o => (JsonNode)o.ToJson())]) };
        return EnqueueAsync(frame, [.. list.Select(o => o.Op)], cancellationToken);
    }

    internal LockstepClientOptions Options => _options;

    internal Lock Gate => _gate;

    internal EventDispatcher Events => _events;

    internal CollectionState CollectionStateOf(string name)
    {
        if (!_collections.TryGetValue(name, out var state))
        {
            _collections[name] = state = new CollectionState(name);
        }
        return state;
    }

    private string Restore(LocalStore store)
    {
        var clientId = store.GetMeta("clientId");
        if (_options.ClientId is { } configured && clientId is not null && clientId != configured)
        {
            throw new InvalidOperationException($"The local store belongs to client '{clientId}', not '{configured}'; give each client id its own store.");
        }
        clientId ??= _options.ClientId ?? "c-" + Guid.NewGuid().ToString("N");
        store.SetMeta("clientId", clientId);

        // Never below the clock: a store that is new (or was wiped) under a client id the server
        // already knows must not number writes from 1 again, or they would be taken for replays.
        var reserved = long.Parse(store.GetMeta("midReserved") ?? "0", CultureInfo.InvariantCulture);
        _nextMid = Math.Max(reserved, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        _midReserved = reserved;
        _cursor = long.Parse(store.GetMeta("cursor") ?? "0", CultureInfo.InvariantCulture);

        foreach (var sub in store.LoadSubs())
        {
            if (!Filter.TryParse(sub.Filter, out var filter, out _))
            {
                continue;
            }
            var state = new SubscriptionState(sub.Name, sub.Collection, filter, sub.Filter == "{}" ? null : JsonNode.Parse(sub.Filter))
            {
                Established = sub.Established,
            };
            if (state.Established)
            {
                state.Ready.TrySetResult();
            }
            _subs[sub.Name] = state;
            CollectionStateOf(sub.Collection).Subscriptions++;
        }
        foreach (var doc in store.LoadDocs())
        {
            var cached = new CachedDoc { Version = doc.Version, Body = doc.Body is null ? null : JsonNode.Parse(doc.Body) as JsonObject };
            foreach (var name in (JsonNode.Parse(doc.Subs) as JsonArray ?? []).Select(n => (string?)n).OfType<string>())
            {
                cached.Subs.Add(name);
            }
            CollectionStateOf(doc.Collection).Confirmed[doc.Id] = cached;
        }
        foreach (var (mid, text) in store.LoadPending())
        {
            if (JsonNode.Parse(text) is not JsonObject frame)
            {
                continue;
            }
            var ops = (frame["ops"] as JsonArray ?? []).OfType<JsonObject>().Select(WriteOp.Parse).OfType<DocumentOp>().ToList();
            var pending = new PendingWrite(mid, frame, ops);
            _pending.Add(pending);
            _pendingByMid[mid] = pending;
            _nextMid = Math.Max(_nextMid, mid);
        }
        foreach (var op in _pending.SelectMany(p => p.Ops))
        {
            CollectionStateOf(op.Collection);
        }
        foreach (var collection in _collections.Values)
        {
            foreach (var id in collection.Confirmed.Keys.Concat(PendingIds(collection.Name)).Distinct(StringComparer.Ordinal).ToList())
            {
                Touch(collection, id, null);
            }
        }
        return clientId;
    }

    private IEnumerable<string> PendingIds(string collection) =>
        _pending.SelectMany(p => p.Ops).Where(o => o.Collection == collection).Select(o => o.Id);

    private long NextMid()
    {
        _nextMid++;
        if (_store is not null && _nextMid >= _midReserved)
        {
            // Reserve numbers in blocks, so a restart never reuses one and a write costs no extra store update.
            _midReserved = _nextMid + MidBlock;
            _store.SetMeta("midReserved", _midReserved.ToString(CultureInfo.InvariantCulture));
        }
        return _nextMid;
    }

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
        var handler = StateChanged;
        if (handler is not null)
        {
            _events.Post(() => handler(this, state));
        }
    }

    /// <summary>Disconnects, saves the local store, and stops. Unconfirmed writes stay in the local store (when on) and are replayed by the next client that opens it.</summary>
    public async ValueTask DisposeAsync()
    {
        Task loop;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            loop = _loop;
        }
        // Outside the lock: cancellation runs continuations that take it.
        await _disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(loop, _flushLoop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        List<PendingWrite> unfinished;
        lock (_gate)
        {
            SetState(ConnectionState.Closed);
            unfinished = [.. _pending.Where(p => p.Ack is null)];
        }
        foreach (var pending in unfinished)
        {
            pending.Fail(new ObjectDisposedException(nameof(LockstepClient),
                _store is null ? "The client was disposed before the write was confirmed." : "The client was disposed before the write was confirmed; it stays queued in the local store."));
        }
        if (_store is not null)
        {
            Flush();
            _store.Dispose();
        }
        await _events.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }
}
