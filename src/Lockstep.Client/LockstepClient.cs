using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Client;

/// <summary>
/// A connection to Lockstep that keeps a live local view of the collections it subscribes to and
/// queues every write with a mutation number, so that whatever the network does each write takes
/// effect exactly once. Reconnects with exponential backoff, full jitter and a circuit breaker per
/// URL (Polly), fails over across <see cref="LockstepClientOptions.Urls"/>, and resumes its
/// subscriptions from its cursor. Thread-safe.
/// </summary>
/// <remarks>
/// The client is a facade over its parts: the <see cref="ConnectionLoop"/> (connect, hello, reconnect), the
/// <see cref="FrameHandler"/> (incoming frames to state), the <see cref="WritePipeline"/> (writes to their
/// settlement), the <see cref="SubscriptionRegistry"/>, the <see cref="LocalView"/> (confirmed and optimistic
/// documents) and the <see cref="LocalJournal"/> (the local store kept in step). All of them are guarded by one
/// lock, this one's: a frame changes documents, subscriptions and writes together, and observers and the store
/// see all of it or none. Parts take the lock only in their own background work (retries, timers); everything
/// else they do is called with it held.
/// </remarks>
public sealed class LockstepClient : IAsyncDisposable
{
    private readonly LockstepClientOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly Dictionary<(string, Type), object> _typed = [];
    private readonly Uri[] _urls;
    private readonly LocalStore? _store;
    private readonly EventDispatcher _events;
    private readonly LocalJournal _journal;
    private readonly LocalView _view;
    private readonly SubscriptionRegistry _subs;
    private readonly WritePipeline _writes;
    private readonly ConnectionLoop _connection;
    private bool _disposed;

    /// <summary>Creates a client from options (see also <see cref="LockstepClientBuilder"/>); call <see cref="StartAsync"/> or <see cref="Start"/> to connect.</summary>
    public LockstepClient(LockstepClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _urls = [.. options.Urls];
        _logger = options.LoggerFactory?.CreateLogger<LockstepClient>() ?? NullLogger<LockstepClient>.Instance;
        _events = new EventDispatcher(options.EventContext, _logger);
        _store = options.UseLocalStore ? LocalStore.Open(options.ResolveStorePath()) : null;
        var pending = new PendingWrites();
        _journal = new LocalJournal(_gate, _store, _logger);
        _view = new LocalView(pending, _journal, _events);
        _subs = new SubscriptionRegistry(_gate, _view, _journal, options, _disposing.Token);
        _writes = new WritePipeline(_gate, pending, _view, _store, options, _logger, _disposing.Token);
        if (_store is not null)
        {
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
        }
        var frames = new FrameHandler(_view, _subs, _writes, _logger);
        _connection = new ConnectionLoop(_gate, options, ClientId, _view, _subs, _writes, frames, _logger, OnStateChanged, _disposing.Token);
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
                return _connection.State;
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
                return _writes.UnacknowledgedCount;
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
                return _view.Cursor;
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
                return _connection.ConnectedUrl;
            }
        }
    }

    /// <summary>Starts connecting in the background and returns at once; the client keeps trying until disposed.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _connection.Start();
            _journal.Start(_view, _subs, _disposing.Token);
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
            online = _connection.Online;
        }
        return online.WaitAsync(cancellationToken);
    }

    /// <summary>Completes when every write queued so far has been acknowledged or refused.</summary>
    public async Task WaitForPendingAsync(CancellationToken cancellationToken = default)
    {
        Task[] waits;
        lock (_gate)
        {
            waits = [.. _writes.Unacknowledged().Select(p => p.Completion)];
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
        var argsJson = args is null ? (RawJson?)null : new RawJson(args.ToJsonString());
        return EnqueueAsync(mid => new CallFrame(RequestIds.ForWrite(mid), mid, name, argsJson), [], cancellationToken);
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
        List<MutationOp> wire = [.. list.Select(o => o.Wire)];
        return EnqueueAsync(mid => new MutateFrame(RequestIds.ForWrite(mid), mid, wire), [.. list.Select(o => o.Op)], cancellationToken);
    }

    /// <summary>
    /// A member of the consumer group <paramref name="group"/> on this client's servers, with its token
    /// provider and logging. Not started: register it as a hosted service or call <c>StartAsync</c>.
    /// </summary>
    public LockstepConsumer Consume(string group, IEnumerable<string> collections, Func<ConsumedChange, CancellationToken, ValueTask> handler, Action<ConsumerOptions>? configure = null)
    {
        var options = new ConsumerOptions();
        configure?.Invoke(options);
        return new LockstepConsumer(_urls, group, collections, handler, options, _options.TokenProvider, _options.LoggerFactory);
    }

    /// <summary>
    /// A read model in the service's own database built from <paramref name="collections"/> (see
    /// <see cref="LockstepProjection"/>), on this client's servers with its token provider and logging. Not started.
    /// </summary>
    public LockstepProjection Project(string name, IEnumerable<string> collections, Func<CancellationToken, Task<System.Data.Common.DbConnection>> open,
        Func<ConsumedChange, System.Data.Common.DbTransaction, CancellationToken, Task> apply, Action<ProjectionOptions>? configure = null)
    {
        var options = new ProjectionOptions();
        configure?.Invoke(options);
        return new LockstepProjection(_urls, name, collections, open, apply, options, _options.TokenProvider, _options.LoggerFactory);
    }

    internal LockstepClientOptions Options => _options;

    internal Lock Gate => _gate;

    internal EventDispatcher Events => _events;

    /// <summary>A collection's state. Under the lock.</summary>
    internal CollectionState CollectionStateOf(string name) => _view.Of(name);

    /// <summary>Queues a write; <paramref name="frame"/> makes its <c>mut</c> or <c>call</c> from the mutation number.</summary>
    internal Task<WriteAck> EnqueueAsync(Func<long, Frame> frame, IReadOnlyList<DocumentOp> ops, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PendingWrite pending;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            pending = _writes.Enqueue(frame, ops);
        }
        // The write stays queued if the caller stops waiting: cancelling only stops the wait.
        return pending.Completion.WaitAsync(cancellationToken);
    }

    /// <summary>Joins (or starts) the subscription for a collection and filter (see <see cref="SubscriptionRegistry.Join"/>).</summary>
    internal SubscriptionState Subscribe(string collection, JsonNode? filterNode)
    {
        var filterJson = filterNode?.ToJsonString() ?? "{}";
        if (!Filter.TryParse(filterJson, out var filter, out var error))
        {
            throw new ArgumentException($"Invalid filter: {error}", nameof(filterNode));
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _subs.Join(collection, filter, filterJson, filterNode);
        }
    }

    internal void Unsubscribe(SubscriptionState sub)
    {
        lock (_gate)
        {
            _subs.Leave(sub);
        }
    }

    /// <summary>Reads the client's state back from its local store; the client id it belongs to.</summary>
    private string Restore(LocalStore store)
    {
        var clientId = store.GetMeta("clientId");
        if (_options.ClientId is { } configured && clientId is not null && clientId != configured)
        {
            throw new InvalidOperationException($"The local store belongs to client '{clientId}', not '{configured}'; give each client id its own store.");
        }
        clientId ??= _options.ClientId ?? "c-" + Guid.NewGuid().ToString("N");
        store.SetMeta("clientId", clientId);
        _view.Restore(store);
        _subs.Restore(store);
        _writes.Restore(store);
        _view.TouchAll();
        return clientId;
    }

    /// <summary>Queues <see cref="StateChanged"/>. Under the lock.</summary>
    private void OnStateChanged(ConnectionState state)
    {
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
        Task flushing;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            loop = _connection.Running;
            flushing = _journal.Flushing;
        }
        // Outside the lock: cancellation runs continuations that take it.
        await _disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(loop, flushing).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        List<PendingWrite> unfinished;
        lock (_gate)
        {
            _connection.Close();
            unfinished = _writes.Unacknowledged();
        }
        foreach (var pending in unfinished)
        {
            pending.Fail(new ObjectDisposedException(nameof(LockstepClient),
                _store is null ? "The client was disposed before the write was confirmed." : "The client was disposed before the write was confirmed; it stays queued in the local store."));
        }
        if (_store is not null)
        {
            _journal.Flush(_view, _subs);
            _store.Dispose();
        }
        await _events.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }
}
