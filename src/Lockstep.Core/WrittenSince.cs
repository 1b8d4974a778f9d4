namespace Lockstep.Core;

/// <summary>
/// What other writers of a shared log committed after a head that one writer knew, read inside that
/// writer's transaction under the log lock: enough to bring its caches up to date instead of dropping
/// them (see <see cref="ISharedChangeStore.BeginWriteAsync(long, CancellationToken)"/>).
/// </summary>
/// <param name="AfterSeq">The head it was read after: the writer's last commit.</param>
/// <param name="Documents">
/// The current state of every document changed after <paramref name="AfterSeq"/>: its last change there,
/// which is exactly the document row that change left.
/// </param>
/// <param name="LastMutationNos">
/// Per client, the highest mutation number recorded with a seq at or after <paramref name="AfterSeq"/>.
/// Refused mutations are recorded with the head of their time, which another writer's transaction reads
/// after the known head was committed, so they are included even when the head did not move.
/// </param>
public sealed record WrittenSince(long AfterSeq, IReadOnlyList<StoredDocument> Documents, IReadOnlyDictionary<string, long> LastMutationNos);
