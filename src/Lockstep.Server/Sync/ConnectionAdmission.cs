namespace Lockstep.Server;

/// <summary>
/// Counts sync connections against the server's limit: <see cref="LockstepOptions.MaxConnections"/>,
/// lowered to what the open-files limit allows (<see cref="ConnectionBudget"/>).
/// </summary>
internal sealed class ConnectionAdmission(ConnectionBudget budget)
{
    private int _sessions;

    /// <summary>How the process's descriptors are shared out.</summary>
    public ConnectionBudget Budget { get; } = budget;

    /// <summary>The most sync sessions open at once.</summary>
    public int MaxSessions => Budget.Sessions;

    /// <summary>Sync sessions open now.</summary>
    public int Sessions => Volatile.Read(ref _sessions);

    /// <summary>Counts a new session; false (nothing counted) at <see cref="MaxSessions"/>.</summary>
    public bool TryOpenSession()
    {
        if (Interlocked.Increment(ref _sessions) <= MaxSessions)
        {
            return true;
        }
        Interlocked.Decrement(ref _sessions);
        return false;
    }

    /// <summary>Forgets a session counted by <see cref="TryOpenSession"/>.</summary>
    public void CloseSession() => Interlocked.Decrement(ref _sessions);
}
