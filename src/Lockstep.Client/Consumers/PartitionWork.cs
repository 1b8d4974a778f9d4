using System.Threading.Channels;

namespace Lockstep.Client;

/// <summary>
/// The work of one held partition under one epoch: its queue of fetched changes and how far it was fetched,
/// handled and committed. The positions and <see cref="Pending"/> are guarded by the <see cref="PartitionTable"/>'s lock.
/// </summary>
internal sealed class PartitionWork(int partition, long epoch, long checkpoint)
{
    public int Partition { get; } = partition;

    public long Epoch { get; } = epoch;

    /// <summary>Every change of the partition up to here has been fetched (and queued).</summary>
    public long Fetched { get; set; } = checkpoint;

    /// <summary>The last change the handler finished.</summary>
    public long Handled { get; set; } = checkpoint;

    public long Committed { get; set; } = checkpoint;

    /// <summary>Queued changes the handler has not finished.</summary>
    public int Pending { get; set; }

    public Channel<ConsumedChange> Queue { get; } = Channel.CreateUnbounded<ConsumedChange>(); // the worker reads; StopAsync drains too

    public CancellationTokenSource Cancel { get; } = new();

    /// <summary>The <see cref="PartitionWorker"/>'s run over the queue; set once, right after the partition is assigned.</summary>
    public Task Worker { get; set; } = Task.CompletedTask;

    /// <summary>How far the group may commit: everything fetched once nothing queued is left, else what was handled.</summary>
    public long CommitTarget => Pending == 0 ? Fetched : Handled;
}
