using System.Text.Json.Nodes;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// The partitions one consumer group member holds now, each as a <see cref="PartitionWork"/>, and the one lock
/// over them: assignments from claims, fetched changes queued to their partitions, positions handled and
/// committed. A work that is no longer in the table (revoked, lost) takes no more changes or positions.
/// </summary>
internal sealed class PartitionTable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, PartitionWork> _partitions = [];
    private readonly string _group;
    private readonly string _member;
    private readonly ILogger _logger;

    public PartitionTable(string group, string member, ILogger logger)
    {
        _group = group;
        _member = member;
        _logger = logger;
    }

    /// <summary>The partitions held, in order.</summary>
    public IReadOnlyList<int> Partitions
    {
        get
        {
            lock (_gate)
            {
                return [.. _partitions.Keys.Order()];
            }
        }
    }

    /// <summary>The works held now.</summary>
    public IReadOnlyList<PartitionWork> Works
    {
        get
        {
            lock (_gate)
            {
                return [.. _partitions.Values];
            }
        }
    }

    /// <summary>
    /// Makes the table the member's share: drops partitions no longer held (or held under a new epoch) and
    /// returns the works of partitions newly held, for the caller to start.
    /// </summary>
    public IReadOnlyList<PartitionWork> Assign(IReadOnlyList<GroupAssignment> assigned)
    {
        lock (_gate)
        {
            var now = assigned.ToDictionary(a => a.Partition);
            foreach (var (p, work) in _partitions.ToList())
            {
                if (!now.TryGetValue(p, out var held) || held.Epoch != work.Epoch)
                {
                    Drop(work);
                }
            }
            List<PartitionWork> added = [];
            foreach (var (p, epoch, checkpoint) in now.Values)
            {
                if (!_partitions.ContainsKey(p))
                {
                    var work = new PartitionWork(p, epoch, checkpoint);
                    _partitions[p] = work;
                    added.Add(work);
                    Log.PartitionAssigned(_logger, _group, _member, p, epoch, checkpoint);
                }
            }
            return added;
        }
    }

    /// <summary>The works to fetch for and how many changes are queued unhandled across them.</summary>
    public (Dictionary<int, PartitionWork> Works, int Pending) ToFetch()
    {
        lock (_gate)
        {
            return (new Dictionary<int, PartitionWork>(_partitions), _partitions.Values.Sum(w => w.Pending));
        }
    }

    /// <summary>Queues fetched changes to their partitions and moves the fetch positions — only for the works the request was made for.</summary>
    public void Accept(Dictionary<int, PartitionWork> works, GroupChanges answer)
    {
        lock (_gate)
        {
            foreach (var (p, e) in answer.Events)
            {
                if (!IsCurrent(works, p, out var work) || e.Seq <= work.Fetched)
                {
                    continue;
                }
                work.Pending++;
                work.Queue.Writer.TryWrite(new ConsumedChange(_group, p, e.Seq, e.Collection, e.Id, e.Version, e.Deleted,
                    e.Deleted ? null : ParseObject(e.Doc), e.Deleted ? null : ParseObject(e.Set), e.ClientId));
            }
            foreach (var (p, seq) in answer.Positions)
            {
                if (IsCurrent(works, p, out var work))
                {
                    work.Fetched = Math.Max(work.Fetched, seq);
                }
            }
            foreach (var lost in answer.Lost)
            {
                if (_partitions.TryGetValue(lost, out var work))
                {
                    Drop(work);
                }
            }
        }
    }

    /// <summary>The handler finished the change at <paramref name="seq"/>.</summary>
    public void MarkHandled(PartitionWork work, long seq)
    {
        lock (_gate)
        {
            work.Handled = seq;
            work.Pending--;
        }
    }

    /// <summary>What may be committed beyond what was: per held partition, its epoch and commit target.</summary>
    public List<(PartitionWork Work, GroupCommit Commit)> ToCommit()
    {
        lock (_gate)
        {
            return [.. _partitions.Values.Where(w => w.CommitTarget > w.Committed).Select(w => (w, new GroupCommit(w.Partition, w.Epoch, w.CommitTarget)))];
        }
    }

    /// <summary>The commits were recorded.</summary>
    public void MarkCommitted(IEnumerable<(PartitionWork Work, GroupCommit Commit)> commits)
    {
        lock (_gate)
        {
            foreach (var (work, commit) in commits)
            {
                work.Committed = Math.Max(work.Committed, commit.Seq);
            }
        }
    }

    /// <summary>Stops handling a partition whose lease is gone (a commit refused with <c>lease_lost</c>).</summary>
    public void Lose(int partition)
    {
        lock (_gate)
        {
            if (_partitions.TryGetValue(partition, out var work))
            {
                Drop(work);
            }
        }
    }

    private bool IsCurrent(Dictionary<int, PartitionWork> works, int partition, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PartitionWork? work) =>
        works.TryGetValue(partition, out work) && _partitions.TryGetValue(partition, out var current) && current == work;

    /// <summary>Stops handling a partition that is no longer this member's; the change being handled finishes, its commit will be refused. Under the lock.</summary>
    private void Drop(PartitionWork work)
    {
        if (_partitions.TryGetValue(work.Partition, out var current) && current == work)
        {
            _partitions.Remove(work.Partition);
            work.Queue.Writer.TryComplete();
            work.Cancel.Cancel();
            Log.PartitionRevoked(_logger, _group, _member, work.Partition, work.Epoch);
        }
    }

    private static JsonObject? ParseObject(RawJson? value) => value is { } raw ? JsonNode.Parse(raw.Json) as JsonObject : null;
}
