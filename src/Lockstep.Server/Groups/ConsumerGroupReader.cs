using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Lockstep.Server.Rest;

namespace Lockstep.Server;

/// <summary>Reads the changes of the partitions a member holds, after its positions, from one consistent read of the store.</summary>
internal sealed class ConsumerGroupReader(IChangeStore store, TimeProvider time, string group, string member)
{
    private const int PageSize = 1000;

    /// <summary>At most this many changes of other partitions are passed over per call before answering with what there is.</summary>
    private const int MaxScanned = 20_000;

    public async Task<GroupBatch?> ReadAsync(IReadOnlyDictionary<int, long> positions, int limit, CancellationToken cancellationToken)
    {
        await using var reader = await store.BeginReadAsync(cancellationToken);
        if (ConsumerGroups.ParseGroup(Body(await reader.GetDocumentAsync(SystemCollections.Groups, group, cancellationToken))) is not var (collections, partitions))
        {
            return null;
        }
        var now = time.GetUtcNow();
        var held = new Dictionary<int, long>();
        var lost = new List<int>();
        for (var p = 0; p < partitions; p++)
        {
            var lease = ConsumerGroups.ParseLease(p, Body(await reader.GetDocumentAsync(SystemCollections.Groups, ConsumerGroups.PartitionId(group, p), cancellationToken)));
            if (lease.Owner == member && lease.IsHeld(now))
            {
                // Nothing follows the head: a position past it reads as the head, so no returned position is past it.
                held[p] = Math.Max(lease.Checkpoint, Math.Min(positions.GetValueOrDefault(p), reader.Head));
            }
            else if (positions.ContainsKey(p))
            {
                lost.Add(p);
            }
        }
        var batch = new GroupBatch(collections, reader.Head, reader.Horizon, lost);
        if (held.Count == 0)
        {
            return batch;
        }
        var start = held.Values.Min();
        if (start < reader.Horizon)
        {
            return batch with { Expired = held.First(h => h.Value == start).Key };
        }
        var after = start;
        var end = reader.Head;
        var scanned = 0;
        while (true)
        {
            var page = await reader.ReadChangesAsync(after, collections, PageSize, cancellationToken);
            foreach (var change in page)
            {
                var p = Partitions.Of(change.Collection, change.Id, partitions);
                if (held.TryGetValue(p, out var position) && change.Seq > position)
                {
                    batch.Events.Add((p, change));
                    if (batch.Events.Count == limit)
                    {
                        end = change.Seq;
                        break;
                    }
                }
            }
            scanned += page.Count;
            if (batch.Events.Count == limit)
            {
                break;
            }
            if (page.Count < PageSize)
            {
                break; // read to the head
            }
            after = page[^1].Seq;
            if (scanned >= MaxScanned)
            {
                end = after;
                break;
            }
        }
        // Every change of a held partition up to the end was returned: each position moves there.
        foreach (var (p, position) in held)
        {
            batch.Positions[p] = Math.Max(position, end);
        }
        return batch;
    }

    private static JsonObject? Body(StoredDocument? doc) => doc is { Deleted: false, Json: { } json } ? JsonNode.Parse(json)!.AsObject() : null;
}

/// <summary>What one read of a member's partitions found.</summary>
internal sealed record GroupBatch(List<string> Collections, long Head, long Horizon, List<int> Lost)
{
    public List<(int Partition, Change Change)> Events { get; } = [];

    public Dictionary<int, long> Positions { get; } = [];

    /// <summary>A held partition whose position is behind the log's horizon.</summary>
    public int? Expired { get; init; }

    /// <summary>The batch as JSON; a change's origin shows only to the <paramref name="reader"/> that made it.</summary>
    public void Write(Utf8JsonWriter w, Caller reader) =>
        new GroupChanges([.. Events.Select(e => new GroupEvent(e.Partition, Frames.Feed(e.Change, reader)))], Positions, Lost, Head).WriteFields(w);
}
