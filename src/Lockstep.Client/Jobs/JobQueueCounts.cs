namespace Lockstep.Client.Jobs;

/// <summary>How many jobs of a queue are in each state.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Ready">Waiting to be claimed (due or delayed).</param>
/// <param name="Leased">Leased to a worker.</param>
/// <param name="Done">Completed and not yet purged.</param>
/// <param name="Dead">Dead letters.</param>
public sealed record JobQueueCounts(string Queue, long Ready, long Leased, long Done, long Dead);
