using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Protocol;

/// <summary>
/// One partition a consumer group's <c>claim</c> answer gives the member (docs/microservices.md): the partition, the
/// epoch of the member's lease on it (its commits name it), and the checkpoint to read from.
/// </summary>
/// <param name="Partition">The partition.</param>
/// <param name="Epoch">The lease's epoch.</param>
/// <param name="Checkpoint">The group's committed position in the partition.</param>
public readonly record struct GroupAssignment(int Partition, long Epoch, long Checkpoint)
{
    /// <summary>The assignments as the <c>assigned</c> array of a claim's answer, <c>[{"partition", "epoch", "checkpoint"}]</c>.</summary>
    public static JsonArray ToJson(IEnumerable<GroupAssignment> assignments)
    {
        ArgumentNullException.ThrowIfNull(assignments);
        return new JsonArray([.. assignments.Select(a => (JsonNode)new JsonObject { ["partition"] = a.Partition, ["epoch"] = a.Epoch, ["checkpoint"] = a.Checkpoint })]);
    }

    /// <summary>The <c>assigned</c> of a claim's answer: false unless it is an array of objects each with an integer partition, epoch and checkpoint.</summary>
    public static bool TryReadAll(JsonElement answer, out IReadOnlyList<GroupAssignment> assignments)
    {
        assignments = [];
        if (answer.ValueKind != JsonValueKind.Object || !answer.TryGetProperty("assigned", out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return false;
        }
        var read = new List<GroupAssignment>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (!JsonBodies.TryInt32(item, "partition", out var partition) || !JsonBodies.TryInt64(item, "epoch", out var epoch)
                || !JsonBodies.TryInt64(item, "checkpoint", out var checkpoint))
            {
                return false;
            }
            read.Add(new GroupAssignment(partition, epoch, checkpoint));
        }
        assignments = read;
        return true;
    }
}
