using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>The changes of one committed group-commit batch, shared read-only by every connection.</summary>
internal sealed class ChangeBatch
{
    public ChangeBatch(IReadOnlyList<Change> changes, long head)
    {
        Changes = changes;
        Head = head;
        var collections = new HashSet<string>(StringComparer.Ordinal);
        long bytes = 0;
        foreach (var change in changes)
        {
            collections.Add(change.Collection);
            bytes += SizeOf(change);
        }
        Collections = collections;
        Bytes = bytes;
    }

    /// <summary>About how much memory the batch's changes hold: what a connection that queues it keeps alive.</summary>
    public long Bytes { get; }

    /// <summary>
    /// About how much memory a change holds: its texts as .NET keeps them (UTF-16, two bytes a character)
    /// and a fixed allowance for the object and its small fields.
    /// </summary>
    public static long SizeOf(Change change) =>
        128 + 2L * ((change.DocumentJson?.Length ?? 0) + (change.SetJson?.Length ?? 0) + (change.UnsetJson?.Length ?? 0)
            + (change.PreviousJson?.Length ?? 0) + change.Id.Length + (change.ClientId?.Length ?? 0));

    public IReadOnlyList<Change> Changes { get; }

    /// <summary>The head after this batch: the seq of its last change.</summary>
    public long Head { get; }

    public IReadOnlySet<string> Collections { get; }

    /// <summary>The batch's frames, encoded once for all the connections it goes to.</summary>
    public SharedChangeFrames SharedFrames { get; } = new();
}
