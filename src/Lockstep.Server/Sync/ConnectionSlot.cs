using System.Net;

namespace Lockstep.Server;

/// <summary>
/// One connection's place in <see cref="ConnectionAdmission"/>: pending from the upgrade, a session once
/// its hello succeeds (<see cref="TryEstablish"/>); disposing gives back whichever it holds.
/// </summary>
internal sealed class ConnectionSlot(ConnectionAdmission admission, IPAddress address) : IDisposable
{
    private const int IsPending = 0, IsSession = 1, IsReleased = 2;
    private int _state;

    /// <summary>Leaves the pending budget for a session slot; false (and the slot released) when the sessions are full.</summary>
    public bool TryEstablish()
    {
        if (Interlocked.CompareExchange(ref _state, IsReleased, IsPending) != IsPending)
        {
            return Volatile.Read(ref _state) == IsSession;
        }
        admission.LeavePending(address);
        if (!admission.TryOpenSession())
        {
            return false;
        }
        Volatile.Write(ref _state, IsSession);
        return true;
    }

    public void Dispose()
    {
        switch (Interlocked.Exchange(ref _state, IsReleased))
        {
            case IsPending:
                admission.LeavePending(address);
                break;
            case IsSession:
                admission.CloseSession();
                break;
        }
    }
}
