using System.Collections.Concurrent;
using System.Net;

namespace Lockstep.Server;

/// <summary>
/// Counts sync connections in two budgets. A connection that has not yet completed its <c>hello</c> is
/// pending: it holds one of <see cref="LockstepOptions.MaxPendingConnections"/> (and of
/// <see cref="LockstepOptions.MaxPendingConnectionsPerAddress"/> for its remote address) until its hello
/// succeeds, fails or times out. Only a successful hello takes a session slot, of
/// <see cref="LockstepOptions.MaxConnections"/> lowered to what the open-files limit allows — so sockets
/// that never say hello cannot take the places of real sessions.
/// </summary>
internal sealed class ConnectionAdmission(ConnectionBudget budget, LockstepOptions options)
{
    private readonly KeyedCounts<IPAddress> _pendingByAddress = new();
    private readonly KeyedCounts<string> _sessionsByClient = new(StringComparer.Ordinal);
    private int _sessions;
    private int _pending;

    /// <summary>How the process's descriptors are shared out.</summary>
    public ConnectionBudget Budget { get; } = budget;

    /// <summary>The most sync sessions open at once.</summary>
    public int MaxSessions => Budget.Sessions;

    /// <summary>The most connections in their handshake at once.</summary>
    public int MaxPending => Budget.Pending;

    /// <summary>Sync sessions open now (connections whose hello succeeded).</summary>
    public int Sessions => Volatile.Read(ref _sessions);

    /// <summary>Connections upgraded but not yet through their hello.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Admits an upgrade from <paramref name="address"/> as pending; null (nothing counted) with the reason it was refused.</summary>
    public ConnectionSlot? TryAdmit(IPAddress? address, out string? refusal)
    {
        var key = address is null ? IPAddress.None : address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (Sessions >= MaxSessions)
        {
            refusal = $"This server holds its limit of {MaxSessions} connections; retry with backoff, or another node.";
            return null;
        }
        if (Interlocked.Increment(ref _pending) > MaxPending)
        {
            Interlocked.Decrement(ref _pending);
            refusal = $"This server has {MaxPending} connections waiting for their hello; retry with backoff, or another node.";
            return null;
        }
        if (!TryCountAddress(key))
        {
            Interlocked.Decrement(ref _pending);
            refusal = $"Your address has {options.MaxPendingConnectionsPerAddress} connections waiting for their hello; send hello on those first.";
            return null;
        }
        refusal = null;
        return new ConnectionSlot(this, key);
    }

    private bool TryCountAddress(IPAddress address) => _pendingByAddress.TryIncrement(address, options.MaxPendingConnectionsPerAddress);

    internal void LeavePending(IPAddress address)
    {
        Interlocked.Decrement(ref _pending);
        _pendingByAddress.Decrement(address);
    }

    internal bool TryOpenSession()
    {
        if (Interlocked.Increment(ref _sessions) <= MaxSessions)
        {
            return true;
        }
        Interlocked.Decrement(ref _sessions);
        return false;
    }

    internal void CloseSession() => Interlocked.Decrement(ref _sessions);

    /// <summary>Counts a session of a client id; false (nothing counted) when it already has <see cref="LockstepOptions.MaxConnectionsPerClient"/>.</summary>
    internal bool TryOpenClient(string clientId) => _sessionsByClient.TryIncrement(clientId, options.MaxConnectionsPerClient);

    /// <summary>Forgets a session counted by <see cref="TryOpenClient"/>.</summary>
    internal void CloseClient(string clientId) => _sessionsByClient.Decrement(clientId);
}
