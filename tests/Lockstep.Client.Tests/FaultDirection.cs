namespace Lockstep.Client.Tests;

/// <summary>Which way bytes travel through a <see cref="FaultProxy"/>.</summary>
public enum FaultDirection
{
    /// <summary>From the connecting client to the target server.</summary>
    ClientToServer,

    /// <summary>From the target server back to the client.</summary>
    ServerToClient,

    /// <summary>Either way: a cut armed for both directions fires in whichever reaches it first.</summary>
    Both,
}
