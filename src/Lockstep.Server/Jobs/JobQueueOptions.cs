using System.ComponentModel.DataAnnotations;

namespace Lockstep.Server;

/// <summary>Options of the job queues, bound from the configuration section <c>Lockstep:Jobs</c> and validated on start.</summary>
public sealed class JobQueueOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Lockstep:Jobs";

    /// <summary>How many leases a job may take when its enqueue does not say (<c>maxAttempts</c>).</summary>
    /// <value>5.</value>
    [Range(1, 1000)]
    public int DefaultMaxAttempts { get; set; } = 5;

    /// <summary>The lease (visibility timeout) of a claim or extension that does not say (<c>leaseMs</c>).</summary>
    /// <value>30 seconds.</value>
    public TimeSpan DefaultLeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest lease a claim or extension may ask for; the shortest is 100 ms.</summary>
    /// <value>12 hours.</value>
    public TimeSpan MaxLeaseDuration { get; set; } = TimeSpan.FromHours(12);

    /// <summary>The most jobs one claim may take (<c>max</c>).</summary>
    /// <value>100.</value>
    [Range(1, 10_000)]
    public int MaxClaimCount { get; set; } = 100;

    /// <summary>The longest a claim may wait for a job (<c>waitMs</c>, long polling).</summary>
    /// <value>30 seconds.</value>
    public TimeSpan MaxClaimWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a waiting claim looks again without a wake-up. An enqueue on this node wakes waiting
    /// claims at once; one on another node of a cluster, or a delayed job coming due, is seen at the next look.
    /// </summary>
    /// <value>500 milliseconds.</value>
    public TimeSpan ClaimPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The wait after a job's first failure; it doubles with each further failure.</summary>
    /// <value>1 second.</value>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between attempts.</summary>
    /// <value>5 minutes.</value>
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The random spread of each wait, as a fraction (0.2: ±20 %).</summary>
    /// <value>0.2.</value>
    [Range(0.0, 1.0)]
    public double BackoffJitter { get; set; } = 0.2;

    /// <summary>How long a done job is kept (its idempotency key keeps answering) before it is purged.</summary>
    /// <value>7 days.</value>
    public TimeSpan DoneRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often done jobs older than <see cref="DoneRetention"/> are purged.</summary>
    /// <value>1 minute.</value>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromMinutes(1);
}
