namespace Lockstep.Server;

/// <summary>
/// The oldest seq still in the log minus one: changes at or below it were compacted. It only moves
/// forward — set when the store opens, by this node's compaction, or by another node's seen in the store.
/// </summary>
internal sealed class LogHorizon
{
    private long _value;

    /// <summary>The horizon as this node knows it.</summary>
    public long Value => Interlocked.Read(ref _value);

    /// <summary>Moves the horizon to <paramref name="horizon"/> when that is further on; never back.</summary>
    public void Observe(long horizon)
    {
        var current = Interlocked.Read(ref _value);
        while (horizon > current)
        {
            var seen = Interlocked.CompareExchange(ref _value, horizon, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }
}
