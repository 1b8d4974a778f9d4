namespace Lockstep.Client;

/// <summary>Where the client's connection stands.</summary>
public enum ConnectionState
{
    /// <summary>Connecting (or reconnecting) to a server.</summary>
    Connecting,

    /// <summary>Connected, said hello, subscriptions resumed: writes go out at once.</summary>
    Online,

    /// <summary>Between attempts; writes wait in the queue.</summary>
    Offline,

    /// <summary>Disposed.</summary>
    Closed,
}
