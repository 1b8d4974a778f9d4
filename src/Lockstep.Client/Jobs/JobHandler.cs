namespace Lockstep.Client.Jobs;

/// <summary>
/// Processes one job. Returning completes it; throwing fails this attempt (it is retried with backoff,
/// or becomes a dead letter after its last attempt). The token fires when the lease is lost (another
/// worker may have the job) or the worker stops; stop then, and leave no effect you cannot repeat:
/// delivery is at least once.
/// </summary>
public delegate Task JobHandler(JobContext job, CancellationToken cancellationToken);
