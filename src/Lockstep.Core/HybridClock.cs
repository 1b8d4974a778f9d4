namespace Lockstep.Core;

/// <summary>
/// A hybrid logical clock (Kulkarni et al., 2014). <see cref="Now"/> never goes backwards, even when
/// the wall clock does, and <see cref="Observe"/> moves it past stamps received from elsewhere.
/// Thread-safe.
/// </summary>
public sealed class HybridClock
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private HlcTimestamp _last;

    /// <summary>Creates a clock over the given time source.</summary>
    public HybridClock(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
    }

    /// <summary>The last stamp this clock issued or observed.</summary>
    public HlcTimestamp Last
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }
    }

    /// <summary>Issues a stamp greater than every stamp issued or observed before.</summary>
    public HlcTimestamp Now()
    {
        var wall = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            _last = wall > _last.WallMs ? new HlcTimestamp(wall, 0) : new HlcTimestamp(_last.WallMs, checked(_last.Counter + 1));
            return _last;
        }
    }

    /// <summary>Moves the clock past a remote stamp, so later stamps order after it.</summary>
    public HlcTimestamp Observe(HlcTimestamp remote)
    {
        var wall = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            var ms = Math.Max(wall, Math.Max(_last.WallMs, remote.WallMs));
            int counter;
            if (ms == _last.WallMs && ms == remote.WallMs)
            {
                counter = Math.Max(_last.Counter, remote.Counter) + 1;
            }
            else if (ms == _last.WallMs)
            {
                counter = _last.Counter + 1;
            }
            else if (ms == remote.WallMs)
            {
                counter = remote.Counter + 1;
            }
            else
            {
                counter = 0;
            }
            _last = new HlcTimestamp(ms, counter);
            return _last;
        }
    }
}
