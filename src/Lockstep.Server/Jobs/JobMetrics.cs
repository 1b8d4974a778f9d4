using System.Diagnostics.Metrics;

namespace Lockstep.Server;

/// <summary>The job queues' counters, published through the <c>Lockstep.Server</c> meter (names <c>lockstep.jobs.*</c>).</summary>
internal sealed class JobMetrics : IDisposable
{
    private readonly Meter _meter = new("Lockstep.Server");

    public JobMetrics()
    {
        Enqueued = _meter.CreateCounter<long>("lockstep.jobs.enqueued", description: "Jobs enqueued (not counting idempotent duplicates)");
        Claimed = _meter.CreateCounter<long>("lockstep.jobs.claimed", description: "Leases given to workers (attempts started)");
        Completed = _meter.CreateCounter<long>("lockstep.jobs.completed", description: "Jobs completed");
        Retried = _meter.CreateCounter<long>("lockstep.jobs.retried", description: "Failed attempts that will be retried");
        Dead = _meter.CreateCounter<long>("lockstep.jobs.dead", description: "Jobs that became dead letters through a failure report");
        LeaseLost = _meter.CreateCounter<long>("lockstep.jobs.lease_lost", description: "Updates refused because their fencing token was stale");
        Replayed = _meter.CreateCounter<long>("lockstep.jobs.replayed", description: "Dead letters replayed");
    }

    public Counter<long> Enqueued { get; }

    public Counter<long> Claimed { get; }

    public Counter<long> Completed { get; }

    public Counter<long> Retried { get; }

    public Counter<long> Dead { get; }

    public Counter<long> LeaseLost { get; }

    public Counter<long> Replayed { get; }

    public void Dispose() => _meter.Dispose();
}
