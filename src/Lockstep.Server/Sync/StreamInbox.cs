using System.Threading.Channels;

namespace Lockstep.Server;

/// <summary>
/// A session stream's inbox, and what the fan-out offers committed batches to: the batches that concern the
/// stream's collections, bounded by <see cref="LockstepOptions.SendBufferChanges"/> and
/// <see cref="LockstepOptions.SendBufferBytes"/>; past them it overflows once (the stream then reads the log
/// instead) and takes no batch until the stream has caught up. The pump's commands queue here too, in order.
/// </summary>
internal sealed class StreamInbox(LockstepOptions options, EngineMetrics metrics) : IChangeListener
{
    private readonly Channel<object> _channel = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private IReadOnlySet<string> _collections = new HashSet<string>(StringComparer.Ordinal);
    private long _queuedChanges;
    private long _queuedBytes;
    private int _overflowed;

    /// <summary>The collections the stream's subscriptions name (the pump sets them).</summary>
    public IReadOnlySet<string> Collections
    {
        get => Volatile.Read(ref _collections);
        set => Volatile.Write(ref _collections, value);
    }

    /// <summary>True from an overflow until the stream has caught up from the log: batches are not taken meanwhile.</summary>
    public bool Overflowed
    {
        get => Volatile.Read(ref _overflowed) != 0;
        set => Volatile.Write(ref _overflowed, value ? 1 : 0);
    }

    /// <summary>Queues a command for the pump.</summary>
    public void Enqueue(object command) => _channel.Writer.TryWrite(command);

    /// <summary>No more items.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    /// <summary>The items in order, for the pump.</summary>
    public IAsyncEnumerable<object> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);

    /// <summary>A batch the pump took: it no longer counts against the bounds.</summary>
    public void Dequeued(ChangeBatch batch)
    {
        Interlocked.Add(ref _queuedChanges, -batch.Changes.Count);
        Interlocked.Add(ref _queuedBytes, -batch.Bytes);
    }

    /// <inheritdoc />
    public void Offer(ChangeBatch batch)
    {
        if (Volatile.Read(ref _overflowed) != 0 || !Concerns(batch))
        {
            return;
        }
        var queued = Interlocked.Add(ref _queuedChanges, batch.Changes.Count);
        var queuedBytes = Interlocked.Add(ref _queuedBytes, batch.Bytes);
        // Bounded by bytes as well as by changes: a few thousand large changes are already a lot of memory.
        // One batch larger than the whole buffer is still taken when nothing else waits.
        if ((queued > options.SendBufferChanges || queuedBytes > options.SendBufferBytes) && queued != batch.Changes.Count)
        {
            Interlocked.Add(ref _queuedChanges, -batch.Changes.Count);
            Interlocked.Add(ref _queuedBytes, -batch.Bytes);
            Overflow();
            return;
        }
        metrics.Queued(queued);
        _channel.Writer.TryWrite(batch);
    }

    public void Overflow()
    {
        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _channel.Writer.TryWrite(OverflowCommand.Instance);
        }
    }

    private bool Concerns(ChangeBatch batch)
    {
        var mine = Volatile.Read(ref _collections);
        if (mine.Count == 0)
        {
            return false;
        }
        foreach (var collection in batch.Collections)
        {
            if (mine.Contains(collection))
            {
                return true;
            }
        }
        return false;
    }
}
