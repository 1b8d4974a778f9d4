using System.Collections;

namespace Lockstep.Client;

/// <summary>
/// The writes not yet settled, in the order they were made, and by mutation number. The <see cref="WritePipeline"/>
/// changes it; the <see cref="LocalView"/> reads it to lay unconfirmed ops over the confirmed state. Guarded by the client's lock.
/// </summary>
internal sealed class PendingWrites : IEnumerable<PendingWrite>
{
    private readonly List<PendingWrite> _list = [];
    private readonly Dictionary<long, PendingWrite> _byMid = [];

    public int Count => _list.Count;

    public PendingWrite this[int index] => _list[index];

    public void Add(PendingWrite pending)
    {
        _list.Add(pending);
        _byMid[pending.Mid] = pending;
    }

    public void Remove(PendingWrite pending)
    {
        _list.Remove(pending);
        _byMid.Remove(pending.Mid);
    }

    public bool TryGet(long mid, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PendingWrite? pending) => _byMid.TryGetValue(mid, out pending);

    public bool Contains(long mid) => _byMid.ContainsKey(mid);

    public List<PendingWrite>.Enumerator GetEnumerator() => _list.GetEnumerator();

    IEnumerator<PendingWrite> IEnumerable<PendingWrite>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
