using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Protocol;

/// <summary>One partition's commit in a consumer group's <c>commit</c> body (docs/microservices.md): its lease's epoch and the seq handled up to.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Epoch">The epoch of the member's lease on it, from its claim.</param>
/// <param name="Seq">The position every change up to which was handled.</param>
public readonly record struct GroupCommit(int Partition, long Epoch, long Seq)
{
    /// <summary>
    /// The <c>commits</c> of a body, <c>[{"partition", "epoch", "seq"}]</c>: false unless it is an array of objects each
    /// with an integer partition, epoch and seq (other fields are ignored).
    /// </summary>
    public static bool TryReadAll(JsonElement body, out IReadOnlyList<GroupCommit> commits)
    {
        commits = [];
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("commits", out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return false;
        }
        var read = new List<GroupCommit>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || !TryNumber(item, "partition", out var p) || !p.TryGetInt32(out var partition)
                || !TryNumber(item, "epoch", out var e) || !e.TryGetInt64(out var epoch)
                || !TryNumber(item, "seq", out var s) || !s.TryGetInt64(out var seq))
            {
                return false;
            }
            read.Add(new GroupCommit(partition, epoch, seq));
        }
        commits = read;
        return true;
    }

    /// <summary>The commits as the array <see cref="TryReadAll"/> reads (under a <c>commits</c> field).</summary>
    public static JsonArray ToJson(IEnumerable<GroupCommit> commits)
    {
        ArgumentNullException.ThrowIfNull(commits);
        return new JsonArray([.. commits.Select(c => (JsonNode)new JsonObject { ["partition"] = c.Partition, ["epoch"] = c.Epoch, ["seq"] = c.Seq })]);
    }

    private static bool TryNumber(JsonElement item, string name, out JsonElement value) =>
        item.TryGetProperty(name, out value) && value.ValueKind == JsonValueKind.Number;
}
