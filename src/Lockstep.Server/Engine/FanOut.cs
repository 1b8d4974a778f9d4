namespace Lockstep.Server;

/// <summary>
/// Hands every committed batch to the listeners (sessions) and wakes long-pollers. A listener
/// buffers what it is offered in a bounded queue; offering never blocks the sequencer. On one node it
/// observes the sequencer's commits itself; on a shared store the <see cref="LogFollower"/> feeds it,
/// in seq order, this node's commits and the other nodes' alike.
/// </summary>
internal sealed class FanOut : ICommitObserver
{
    private readonly Lock _gate = new();
    private IChangeListener[] _listeners = [];
    private TaskCompletionSource _next = NewSignal();
    private long _head;

    /// <summary>The seq of the last batch offered to every listener.</summary>
    public long Head => Volatile.Read(ref _head);

    public void Start(long head) => Volatile.Write(ref _head, head);

    public void Add(IChangeListener listener)
    {
        lock (_gate)
        {
            if (Array.IndexOf(_listeners, listener) < 0)
            {
                _listeners = [.. _listeners, listener];
            }
        }
    }

    public void Remove(IChangeListener listener)
    {
        lock (_gate)
        {
            _listeners = [.. _listeners.Where(l => !ReferenceEquals(l, listener))];
        }
    }

    public int ListenerCount => Volatile.Read(ref _listeners).Length;

    /// <summary>Publishes the changes of a commit of this node's sequencer (the only writer of a store that is not shared).</summary>
    public void OnCommitted(CommittedBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Changes is { } changes)
        {
            Publish(changes);
        }
    }

    /// <summary>Offers a committed batch to every listener, then publishes the new head.</summary>
    public void Publish(ChangeBatch batch)
    {
        // Listeners first, head second: whoever reads Head may rely on every batch up to it having
        // been offered already (the session's "pos" frames depend on it).
        List<IChangeListener>? woken = null;
        foreach (var listener in Volatile.Read(ref _listeners))
        {
            if (listener.Offer(batch))
            {
                (woken ??= []).Add(listener);
            }
        }
        Volatile.Write(ref _head, batch.Head);
        if (woken is not null)
        {
            Deliver(woken);
        }
        TaskCompletionSource signal;
        lock (_gate)
        {
            signal = _next;
            _next = NewSignal();
        }
        signal.TrySetResult();
    }

    /// <summary>
    /// Moves the head forward over changes that will never be offered (they left the log before this
    /// node could read them): every listener is sent back to the store, where it finds out and resets.
    /// </summary>
    public void Jump(long head)
    {
        foreach (var listener in Volatile.Read(ref _listeners))
        {
            listener.Overflow();
        }
        Volatile.Write(ref _head, Math.Max(Head, head));
    }

    /// <summary>Completes when the head moves past <paramref name="after"/>, or when the token fires.</summary>
    public async Task WaitPastAsync(long after, CancellationToken cancellationToken)
    {
        while (Head <= after)
        {
            Task next;
            lock (_gate)
            {
                next = _next.Task;
            }
            if (Head > after)
            {
                return;
            }
            await next.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Runs the deliveries of the listeners a batch woke off the publishing thread, in one work item per core (a
    /// share of them each) rather than one per listener: a session's delivery runs inline until its send has to
    /// wait, so one thread sends a batch to many sessions without a hand-off between threads for each.
    /// </summary>
    private static void Deliver(List<IChangeListener> woken)
    {
        var all = woken.ToArray();
        var lanes = Math.Clamp(all.Length / MinimumPerLane, 1, Environment.ProcessorCount);
        var share = (all.Length + lanes - 1) / lanes;
        for (var from = 0; from < all.Length; from += share)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static lane =>
            {
                foreach (var listener in lane)
                {
                    listener.Deliver();
                }
            }, new ArraySegment<IChangeListener>(all, from, Math.Min(share, all.Length - from)), preferLocal: false);
        }
    }

    /// <summary>Listeners a delivery thread takes at least before a second one shares the work.</summary>
    private const int MinimumPerLane = 64;

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
