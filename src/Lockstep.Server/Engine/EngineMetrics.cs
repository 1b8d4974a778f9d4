using System.Diagnostics.Metrics;

namespace Lockstep.Server;

/// <summary>The engine's counters, published through the <c>Lockstep.Server</c> meter and readable directly.</summary>
public sealed class EngineMetrics : IDisposable
{
    private readonly Meter _meter = new("Lockstep.Server");
    private readonly Counter<long> _catchUps;
    private readonly Counter<long> _batches;
    private readonly Counter<long> _changes;
    private readonly Counter<long> _caughtUpDocuments;
    private long _catchUpCount;
    private long _queuedHighWater;

    /// <summary>Creates the meter and instruments.</summary>
    public EngineMetrics()
    {
        _catchUps = _meter.CreateCounter<long>("lockstep.session.catch_ups", description: "Times a connection fell behind and read from the log");
        _batches = _meter.CreateCounter<long>("lockstep.sequencer.batches", description: "Committed group-commit batches");
        _changes = _meter.CreateCounter<long>("lockstep.sequencer.changes", description: "Committed changes");
        _caughtUpDocuments = _meter.CreateCounter<long>("lockstep.sequencer.caught_up_documents",
            description: "Documents other nodes changed that the sequencer's cache took from the shared log instead of being cleared");
    }

    /// <summary>How many times a connection fell behind and switched to reading the log.</summary>
    public long CatchUps => Interlocked.Read(ref _catchUpCount);

    /// <summary>The most committed changes that ever waited in one connection's send buffer (the bound on a slow reader's memory).</summary>
    public long QueuedChangesHighWater => Interlocked.Read(ref _queuedHighWater);

    internal void Queued(long queued)
    {
        var seen = Interlocked.Read(ref _queuedHighWater);
        while (queued > seen)
        {
            var previous = Interlocked.CompareExchange(ref _queuedHighWater, queued, seen);
            if (previous == seen)
            {
                return;
            }
            seen = previous;
        }
    }

    internal void CatchUp()
    {
        Interlocked.Increment(ref _catchUpCount);
        _catchUps.Add(1);
    }

    internal void Committed(int changes)
    {
        _batches.Add(1);
        _changes.Add(changes);
    }

    internal void CaughtUp(int documents) => _caughtUpDocuments.Add(documents);

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
