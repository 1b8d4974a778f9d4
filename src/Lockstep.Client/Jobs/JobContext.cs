using System.Text.Json.Nodes;

namespace Lockstep.Client.Jobs;

/// <summary>The job a <see cref="JobWorker"/> hands to its handler.</summary>
public sealed class JobContext
{
    internal JobContext(JobInfo job)
    {
        Job = job;
    }

    /// <summary>The job as claimed (its <see cref="JobInfo.Token"/> is this attempt's lease).</summary>
    public JobInfo Job { get; }

    /// <summary>The job's id.</summary>
    public long Id => Job.Id;

    /// <summary>The payload.</summary>
    public JsonNode? Payload => Job.Payload;

    /// <summary>This attempt's number, from 1.</summary>
    public int Attempt => Job.Attempts;

    /// <summary>True when this is the last attempt the job may take.</summary>
    public bool IsLastAttempt => Job.Attempts >= Job.MaxAttempts;
}
