namespace Lockstep.Server;

/// <summary>What one committed group-commit batch wrote, as commit observers see it.</summary>
/// <param name="Head">The log's head after the batch.</param>
/// <param name="Changes">The batch's changes; null when it appended none (it only recorded mutation results or enqueued jobs).</param>
/// <param name="JobQueues">The queues the batch's mutators enqueued jobs on (empty when none).</param>
internal sealed record CommittedBatch(long Head, ChangeBatch? Changes, IReadOnlySet<string> JobQueues);
