namespace Lockstep.Core;

/// <summary>
/// Who holds one partition of a consumer group, until when, under which epoch, and how far the group
/// has committed in it. The epoch grows every time the partition changes hands: it is the fencing
/// token a holder's commits must carry.
/// </summary>
/// <param name="Partition">The partition number.</param>
/// <param name="Owner">The member holding it, or null.</param>
/// <param name="ExpiresAt">When the holder's lease ends unless renewed.</param>
/// <param name="Epoch">Grows by one whenever the partition changes hands.</param>
/// <param name="Checkpoint">The seq up to which the group has handled this partition's changes.</param>
public sealed record PartitionLease(int Partition, string? Owner, DateTimeOffset ExpiresAt, long Epoch, long Checkpoint)
{
    /// <summary>True when a member holds it at <paramref name="now"/>.</summary>
    public bool IsHeld(DateTimeOffset now) => Owner is not null && ExpiresAt > now;
}
