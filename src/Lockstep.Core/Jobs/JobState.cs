namespace Lockstep.Core.Jobs;

/// <summary>Where a job is in its life. Stored as its number; never renumber.</summary>
public enum JobState
{
    /// <summary>Waiting to be claimed (from its <see cref="JobRecord.RunAt"/> on).</summary>
    Ready = 0,

    /// <summary>Claimed by a worker under a lease that ends at <see cref="JobRecord.LeaseExpiresAt"/>.</summary>
    Leased = 1,

    /// <summary>Completed by a worker. Kept until purged, so its idempotency key still answers.</summary>
    Done = 2,

    /// <summary>A dead letter: it failed on its last allowed attempt (or finally); it waits for a replay.</summary>
    Dead = 3,
}
