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
        foreach (var change in changes)
        {
            collections.Add(change.Collection);
        }
        Collections = collections;
    }

    public IReadOnlyList<Change> Changes { get; }

    /// <summary>The head after this batch: the seq of its last change.</summary>
    public long Head { get; }

    public IReadOnlySet<string> Collections { get; }
}
