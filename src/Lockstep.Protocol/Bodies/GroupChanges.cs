using System.Globalization;
using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>One change a consumer group member fetched: its partition and the change as the feed shows it.</summary>
/// <param name="Partition">The partition the change's document belongs to.</param>
/// <param name="Change">The change.</param>
public sealed record GroupEvent(int Partition, FeedChange Change);

/// <summary>
/// The answer to a consumer group's <c>changes</c> request (docs/microservices.md): the events in seq order, each
/// partition's new position, the partitions the member no longer holds, and the log's head. The server writes it
/// with <see cref="WriteFields"/>, the client reads it with <see cref="TryRead"/>.
/// </summary>
/// <param name="Events">The changes, each with its partition.</param>
/// <param name="Positions">Per partition, the position everything up to which has been delivered.</param>
/// <param name="Lost">Partitions asked for that the member no longer holds.</param>
/// <param name="Head">The log's head when read.</param>
public sealed record GroupChanges(IReadOnlyList<GroupEvent> Events, IReadOnlyDictionary<int, long> Positions, IReadOnlyList<int> Lost, long Head)
{
    /// <summary>The answer's fields, into an object already started: <c>events</c> (each with its <c>partition</c>), <c>positions</c> (by partition, in order), <c>lost</c>, <c>head</c>.</summary>
    public void WriteFields(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartArray("events");
        foreach (var (partition, change) in Events)
        {
            writer.WriteStartObject();
            writer.WriteNumber("partition", partition);
            JsonBodies.WriteFeedChangeFields(writer, change);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteStartObject("positions");
        foreach (var (partition, seq) in Positions.OrderBy(p => p.Key))
        {
            writer.WriteNumber(partition.ToString(CultureInfo.InvariantCulture), seq);
        }
        writer.WriteEndObject();
        writer.WriteStartArray("lost");
        foreach (var partition in Lost)
        {
            writer.WriteNumberValue(partition);
        }
        writer.WriteEndArray();
        writer.WriteNumber("head", Head);
    }

    /// <summary>Reads an answer; false unless <c>events</c>, <c>positions</c> and <c>lost</c> are there and well formed.</summary>
    public static bool TryRead(JsonElement answer, out GroupChanges changes)
    {
        changes = new GroupChanges([], new Dictionary<int, long>(), [], 0);
        if (answer.ValueKind != JsonValueKind.Object
            || !answer.TryGetProperty("events", out var events) || events.ValueKind != JsonValueKind.Array
            || !answer.TryGetProperty("positions", out var positions) || positions.ValueKind != JsonValueKind.Object
            || !answer.TryGetProperty("lost", out var lost) || lost.ValueKind != JsonValueKind.Array)
        {
            return false;
        }
        var read = new List<GroupEvent>(events.GetArrayLength());
        foreach (var item in events.EnumerateArray())
        {
            if (!JsonBodies.TryInt32(item, "partition", out var partition) || !JsonBodies.TryReadFeedChange(item, out var change))
            {
                return false;
            }
            read.Add(new GroupEvent(partition, change));
        }
        var at = new Dictionary<int, long>();
        foreach (var position in positions.EnumerateObject())
        {
            if (!int.TryParse(position.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
                || position.Value.ValueKind != JsonValueKind.Number || !position.Value.TryGetInt64(out var seq))
            {
                return false;
            }
            at[partition] = seq;
        }
        var gone = new List<int>(lost.GetArrayLength());
        foreach (var item in lost.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var partition))
            {
                return false;
            }
            gone.Add(partition);
        }
        var head = answer.TryGetProperty("head", out var h) && h.ValueKind == JsonValueKind.Number && h.TryGetInt64(out var value) ? value : 0;
        changes = new GroupChanges(read, at, gone, head);
        return true;
    }
}
