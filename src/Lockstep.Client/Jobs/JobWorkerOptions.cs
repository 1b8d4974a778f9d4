using Lockstep.Protocol;
namespace Lockstep.Client.Jobs;

/// <summary>Options of a <see cref="JobWorker"/>. Checked when the worker is created.</summary>
public sealed class JobWorkerOptions
{
    /// <summary>The queue to serve.</summary>
    /// <value>No default: required.</value>
    public string Queue { get; set; } = "";

    /// <summary>How many jobs run at once.</summary>
    /// <value>1.</value>
    public int Concurrency { get; set; } = 1;

    /// <summary>The lease each claim asks for (the visibility timeout): a job whose worker dies is redelivered after it.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running job's lease is extended (by <see cref="LeaseDuration"/> again).</summary>
    /// <value>None: a third of <see cref="LeaseDuration"/>.</value>
    public TimeSpan? ExtendInterval { get; set; }

    /// <summary>How long one claim waits on the server for a job (long polling).</summary>
    /// <value>20 seconds.</value>
    public TimeSpan ClaimWait { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The first wait after a failed claim (the server unreachable, say); it doubles up to 30 seconds.</summary>
    /// <value>1 second.</value>
    public TimeSpan ErrorDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (!Lockstep.Protocol.Names.IsValidCollection(Queue))
        {
            throw new ArgumentException($"JobWorkerOptions.Queue '{Queue}' is not a valid queue name.", nameof(Queue));
        }
        if (Concurrency is < 1 or > 10_000)
        {
            throw new ArgumentException("JobWorkerOptions.Concurrency must be from 1 to 10,000.", nameof(Concurrency));
        }
        if (LeaseDuration < TimeSpan.FromMilliseconds(100))
        {
            throw new ArgumentException("JobWorkerOptions.LeaseDuration must be at least 100 ms.", nameof(LeaseDuration));
        }
        if (ExtendInterval is { } extend && (extend <= TimeSpan.Zero || extend >= LeaseDuration))
        {
            throw new ArgumentException("JobWorkerOptions.ExtendInterval must be positive and shorter than LeaseDuration.", nameof(ExtendInterval));
        }
        if (ClaimWait < TimeSpan.Zero || ErrorDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException("JobWorkerOptions.ClaimWait must not be negative, ErrorDelay must be positive.", nameof(ClaimWait));
        }
    }
}
