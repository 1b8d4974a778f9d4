namespace Lockstep.Core.Jobs;

/// <summary>The outcome of an update a worker makes under its lease (complete, fail, extend).</summary>
public enum JobUpdateStatus
{
    /// <summary>The update was applied.</summary>
    Ok = 0,

    /// <summary>
    /// The fencing token is not the job's newest, or the job is no longer leased (it expired and went
    /// to another worker, went to the dead letters, or was completed): nothing was changed.
    /// </summary>
    LeaseLost = 1,

    /// <summary>No job has that id (it never existed or was purged).</summary>
    NotFound = 2,
}
