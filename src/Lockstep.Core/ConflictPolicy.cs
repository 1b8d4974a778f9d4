namespace Lockstep.Core;

/// <summary>How a collection resolves concurrent writes.</summary>
public enum ConflictPolicy
{
    /// <summary>
    /// Last writer wins per field: writes apply in <c>seq</c> order, so concurrent patches to different
    /// fields both survive and on the same field the later one wins. <c>ifVersion</c> is honoured when given.
    /// </summary>
    Lww = 0,

    /// <summary>Optimistic concurrency: a write to an existing document must carry its current version as <c>ifVersion</c>.</summary>
    Strict = 1,
}
