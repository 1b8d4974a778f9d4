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
        foreach (var listener in Volatile.Read(ref _listeners))
        {
            listener.Offer(batch);
        }
        Volatile.Write(ref _head, batch.Head);
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

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
