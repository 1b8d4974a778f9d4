using Lockstep.Protocol;

namespace Lockstep.Client.Jobs;

/// <summary>
/// The server refused a complete, fail or extend because the fencing token is no longer the job's
/// newest lease (<c>lease_lost</c>): another worker has the job, or it is finished. Drop the attempt's result.
/// </summary>
public sealed class JobLeaseLostException : LockstepException
{
    /// <summary>Creates the exception.</summary>
    public JobLeaseLostException(string message) : base(ErrorCodes.LeaseLost.Code, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public JobLeaseLostException() : this("The job's lease is lost.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public JobLeaseLostException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
