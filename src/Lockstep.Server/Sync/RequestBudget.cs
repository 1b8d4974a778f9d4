namespace Lockstep.Server;

/// <summary>
/// What a connection's requests hold while they wait for the pump, shared by the dispatcher (which takes) and the
/// pump (which gives back): a slot each — while the pump's sends wait on a client that does not read, the receive
/// loop stops reading too instead of queueing requests without bound — and their filters' bytes, which count with
/// the filters the session holds against <see cref="LockstepOptions.MaxFilterBytesPerConnection"/>.
/// </summary>
internal sealed class RequestBudget(long maxFilterBytes) : IDisposable
{
    /// <summary>Requests (sub, unsub) that may wait for the pump at once.</summary>
    public const int Slots = 16;

    private readonly SemaphoreSlim _slots = new(Slots, Slots);
    private long _pendingFilterBytes;
    private long _heldFilterBytes;

    /// <summary>Counts a subscription's filter as pending; false (counting nothing) when held and pending would pass the limit.</summary>
    public bool TryReserveFilter(int bytes)
    {
        var pending = Interlocked.Add(ref _pendingFilterBytes, bytes);
        if (Volatile.Read(ref _heldFilterBytes) + pending > maxFilterBytes)
        {
            Interlocked.Add(ref _pendingFilterBytes, -bytes);
            return false;
        }
        return true;
    }

    /// <summary>Waits for a slot for one more request to the pump.</summary>
    public Task WaitSlotAsync(CancellationToken cancellationToken) => _slots.WaitAsync(cancellationToken);

    /// <summary>Gives back what a client's request held while it waited: its slot and its filter's pending bytes.</summary>
    public void Handled(int filterBytes)
    {
        Interlocked.Add(ref _pendingFilterBytes, -filterBytes);
        _slots.Release();
    }

    /// <summary>The filter bytes the session holds now (the pump's subscriptions).</summary>
    public void Hold(long bytes) => Volatile.Write(ref _heldFilterBytes, bytes);

    public void Dispose() => _slots.Dispose();
}
