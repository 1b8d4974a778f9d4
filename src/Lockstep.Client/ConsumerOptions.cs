namespace Lockstep.Client;

/// <summary>Settings of one consumer group member.</summary>
public sealed class ConsumerOptions
{
    /// <summary>This member's id in the group; unique per running process.</summary>
    /// <value>The machine name and a random suffix.</value>
    public string Member { get; set; } = Environment.MachineName + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>How many partitions the group has; used only when this member creates the group.</summary>
    /// <value>16.</value>
    public int Partitions { get; set; } = 16;

    /// <summary>
    /// How long a claim on a partition lasts; the member renews at a third of it. A member silent this long
    /// loses its partitions. The server takes 200 milliseconds to 10 minutes.
    /// </summary>
    /// <value>10 seconds.</value>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many partitions are handled at once (each one's changes strictly in order).</summary>
    /// <value>The processor count.</value>
    public int MaxConcurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>The most changes fetched per request.</summary>
    /// <value>500.</value>
    public int FetchLimit { get; set; } = 500;

    /// <summary>How often handled positions are committed (a crash redelivers at most what was handled since).</summary>
    /// <value>200 milliseconds.</value>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between two attempts of a failing handler (the same change is retried until it succeeds).</summary>
    /// <value>30 seconds.</value>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);
}
