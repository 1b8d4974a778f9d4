namespace Lockstep.Server;

/// <summary>
/// A session stream's inbox, and what the fan-out offers committed batches to: the batches that concern the
/// stream's collections, bounded by <see cref="LockstepOptions.SendBufferChanges"/> and
/// <see cref="LockstepOptions.SendBufferBytes"/>; past them it overflows once (the stream then reads the log
/// instead) and takes no batch until the stream has caught up. The pump's commands queue here too, in order.
/// </summary>
/// <remarks>
/// The inbox runs its stream's pump itself, one item after another, never two at once: whoever queues the first
/// item while nothing runs claims the run. A batch's claim goes back to the fan-out, which runs the pumps of every
/// session it woke on its own delivery thread (<see cref="Deliver"/>: inline until a send has to wait, as one
/// loop, not one thread-pool hand-off per session); a command's claim runs on the thread pool.
/// </remarks>
internal sealed class StreamInbox(LockstepOptions options, EngineMetrics metrics) : IChangeListener
{
    // A queue under a lock rather than a ConcurrentQueue: an idle connection holds an empty Queue (no array until
    // the first item) instead of a 32-slot segment, about 700 bytes a connection.
    private readonly Lock _gate = new();
    private readonly Queue<object> _queue = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<object, ValueTask<bool>>? _handle;
    private IReadOnlySet<string> _collections = new HashSet<string>(StringComparer.Ordinal);
    private long _queuedChanges;
    private long _queuedBytes;
    private int _overflowed;

    /// <summary>1 while a run owns the pump (or for good, once it ended).</summary>
    private int _running;

    /// <summary>True once the pump ended: nothing is queued any more.</summary>
    private volatile bool _ended;

    /// <summary>The collections the stream's subscriptions name (the pump sets them).</summary>
    public IReadOnlySet<string> Collections
    {
        get => Volatile.Read(ref _collections);
        set => Volatile.Write(ref _collections, value);
    }

    /// <summary>True from an overflow until the stream has caught up from the log: batches are not taken meanwhile.</summary>
    public bool Overflowed
    {
        get => Volatile.Read(ref _overflowed) != 0;
        set => Volatile.Write(ref _overflowed, value ? 1 : 0);
    }

    /// <summary>True when no run owns the pump (nothing is being handled).</summary>
    public bool IsIdle => Volatile.Read(ref _running) == 0;

    /// <summary>Completes when the pump has ended: after <see cref="Complete"/>, or when the handler said stop.</summary>
    public Task Completion => _done.Task;

    /// <summary>
    /// Starts taking items: <paramref name="handle"/> does one, in order, and answers false to stop the pump for good
    /// (the items left are dropped). Items queued before are handled now.
    /// </summary>
    public void Start(Func<object, ValueTask<bool>> handle)
    {
        _handle = handle;
        if (TryClaim())
        {
            RunOnThreadPool();
        }
    }

    /// <summary>Queues a command for the pump.</summary>
    public void Enqueue(object command)
    {
        if (Put(command))
        {
            RunOnThreadPool();
        }
    }

    /// <summary>No more items: the pump ends once it has done the queued ones.</summary>
    public void Complete() => Enqueue(CompleteCommand.Instance);

    /// <summary>A batch the pump took: it no longer counts against the bounds.</summary>
    public void Dequeued(ChangeBatch batch)
    {
        Interlocked.Add(ref _queuedChanges, -batch.Changes.Count);
        Interlocked.Add(ref _queuedBytes, -batch.Bytes);
    }

    /// <inheritdoc />
    public bool Offer(ChangeBatch batch)
    {
        if (Volatile.Read(ref _overflowed) != 0 || !Concerns(batch))
        {
            return false;
        }
        var queued = Interlocked.Add(ref _queuedChanges, batch.Changes.Count);
        var queuedBytes = Interlocked.Add(ref _queuedBytes, batch.Bytes);
        // Bounded by bytes as well as by changes: a few thousand large changes are already a lot of memory.
        // One batch larger than the whole buffer is still taken when nothing else waits.
        if ((queued > options.SendBufferChanges || queuedBytes > options.SendBufferBytes) && queued != batch.Changes.Count)
        {
            Interlocked.Add(ref _queuedChanges, -batch.Changes.Count);
            Interlocked.Add(ref _queuedBytes, -batch.Bytes);
            return MarkOverflowed();
        }
        metrics.Queued(queued);
        return Put(batch);
    }

    /// <inheritdoc />
    public void Overflow()
    {
        if (MarkOverflowed())
        {
            RunOnThreadPool();
        }
    }

    /// <inheritdoc />
    public void Deliver() => _ = RunAsync();

    /// <summary>Marks the inbox overflowed and queues the catch-up once; true when that claimed the run.</summary>
    private bool MarkOverflowed() => Interlocked.Exchange(ref _overflowed, 1) == 0 && Put(OverflowCommand.Instance);

    /// <summary>Queues an item; true when the caller claimed the run and must start it.</summary>
    private bool Put(object item)
    {
        if (_ended)
        {
            return false;
        }
        lock (_gate)
        {
            _queue.Enqueue(item);
        }
        return TryClaim();
    }

    private bool TryClaim() => Volatile.Read(ref _handle) is not null && Interlocked.CompareExchange(ref _running, 1, 0) == 0;

    private void RunOnThreadPool() => ThreadPool.UnsafeQueueUserWorkItem(static inbox => inbox.Deliver(), this, preferLocal: false);

    private async Task RunAsync()
    {
        var handle = _handle!;
        while (true)
        {
            while (TryTake(out var item))
            {
                bool more;
                try
                {
                    more = item is not CompleteCommand && await handle(item);
                }
                catch (Exception)
                {
                    // The handler answers its own failures (it closes the session); this only keeps the run's end certain.
                    more = false;
                }
                if (!more)
                {
                    // Ended for good: the claim is never given back, so nothing runs the pump again.
                    _ended = true;
                    lock (_gate)
                    {
                        _queue.Clear();
                        _queue.TrimExcess();
                    }
                    _done.TrySetResult();
                    return;
                }
            }
            // Give the claim back, then look again: an item queued meanwhile found the pump running and left it
            // to this run (the exchange is a full fence, so that item is seen).
            Interlocked.Exchange(ref _running, 0);
            if (IsEmpty() || !TryClaim())
            {
                return;
            }
        }
    }

    private bool TryTake(out object item)
    {
        lock (_gate)
        {
            return _queue.TryDequeue(out item!);
        }
    }

    private bool IsEmpty()
    {
        lock (_gate)
        {
            return _queue.Count == 0;
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

    /// <summary>The end of the items.</summary>
    private sealed class CompleteCommand
    {
        public static CompleteCommand Instance { get; } = new();
    }
}
