using System.Collections.Concurrent;

namespace Lockstep.Server;

/// <summary>
/// One timer for every sync session of the server, rather than one each: at every period it asks each open session
/// to check its idle and frame timeouts and its heartbeat (<see cref="ITimedSession.OnTick"/>). A timer of its own
/// cost each connection about 400 bytes (the timer, its state and the loop awaiting it) for a check that takes
/// microseconds.
/// </summary>
internal sealed class SessionTimer(LockstepOptions options, TimeProvider time) : IDisposable
{
    private readonly ConcurrentDictionary<ITimedSession, byte> _sessions = new();
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private int _ticking;
    private bool _disposed;

    /// <summary>How often sessions are checked: a quarter of the idle timeout or the heartbeat, whichever is shorter, at least 50 ms.</summary>
    public TimeSpan Period { get; } = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks,
        Math.Min(options.HeartbeatInterval.Ticks, options.IdleTimeout.Ticks / 4)));

    /// <summary>Checks <paramref name="session"/> at every period from now until <see cref="Remove"/>.</summary>
    public void Add(ITimedSession session)
    {
        _sessions.TryAdd(session, 0);
        lock (_gate)
        {
            if (_timer is null && !_disposed)
            {
                _timer = time.CreateTimer(static t => ((SessionTimer)t!).Tick(), this, Period, Period);
            }
        }
    }

    public void Remove(ITimedSession session) => _sessions.TryRemove(session, out _);

    private void Tick()
    {
        // A tick that outlasts the period is not overlapped by the next one: that one is skipped.
        if (Interlocked.Exchange(ref _ticking, 1) != 0)
        {
            return;
        }
        try
        {
            foreach (var session in _sessions.Keys)
            {
                if (!session.OnTick())
                {
                    Remove(session);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }
}

/// <summary>A session the <see cref="SessionTimer"/> checks.</summary>
internal interface ITimedSession
{
    /// <summary>Checks the session's timeouts and heartbeat; must not block. False when the session is closing and needs no more ticks.</summary>
    bool OnTick();
}
