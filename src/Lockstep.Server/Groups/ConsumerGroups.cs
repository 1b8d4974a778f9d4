using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Consumer groups' state, kept as documents of <see cref="SystemCollections.Groups"/> and changed only by
/// the internal mutators here, which run on the sequencer like any mutation: atomic, and the same on
/// every node of a cluster (<see cref="ConsumerGroupMutators"/> registers them). Claims (joins and heartbeats), commits and leaves go through them; reading
/// changes does not (<see cref="ConsumerGroupReader"/>).
/// </summary>
internal static class ConsumerGroups
{
    public const string ClaimMutator = SystemCollections.Prefix + "groups.claim";
    public const string CommitMutator = SystemCollections.Prefix + "groups.commit";
    public const string LeaveMutator = SystemCollections.Prefix + "groups.leave";
    public const int DefaultPartitions = 16;
    public const int MaxPartitions = 1024;

    /// <summary>The shortest lease a claim may ask for, in milliseconds.</summary>
    public const long MinLeaseMs = 200;

    /// <summary>The longest lease a claim may ask for (10 minutes): a member that dies holds its partitions at most this long.</summary>
    public const long MaxLeaseMs = 600_000;

    public static bool IsValidName(string? name) => Names.IsValidId(name) && name.Length <= 64 && !name.Contains('~', StringComparison.Ordinal);

    public static string PartitionId(string group, int partition) => group + "~" + partition.ToString(CultureInfo.InvariantCulture);

    /// <summary>The group's settings (collections, partitions); null when it does not exist yet.</summary>
    public static (List<string> Collections, int Partitions)? ParseGroup(JsonObject? doc) =>
        doc is null ? null : ([.. doc["collections"]!.AsArray().Select(c => (string)c!)], (int)doc["partitions"]!);

    public static PartitionLease ParseLease(int partition, JsonObject? doc) =>
        doc is null
            ? new PartitionLease(partition, null, DateTimeOffset.MinValue, 0, 0)
            : new PartitionLease(partition, (string?)doc["owner"], DateTimeOffset.FromUnixTimeMilliseconds((long)doc["expiresAt"]!), (long)doc["epoch"]!, (long)doc["checkpoint"]!);

    private static JsonObject LeaseJson(string group, PartitionLease lease) => new()
    {
        ["group"] = group,
        ["partition"] = lease.Partition,
        ["owner"] = lease.Owner,
        ["expiresAt"] = lease.ExpiresAt.ToUnixTimeMilliseconds(),
        ["epoch"] = lease.Epoch,
        ["checkpoint"] = lease.Checkpoint,
    };

    /// <summary>
    /// Args: <c>{group, member, collections, partitions?, leaseMs, now}</c>. Creates the group on first use,
    /// balances (<see cref="PartitionBalancer"/>), and returns the member's partitions with their epochs and checkpoints.
    /// </summary>
    public static async ValueTask<JsonNode?> ClaimAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var group = args.GetProperty("group").GetString()!;
        var member = args.GetProperty("member").GetString()!;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(args.GetProperty("now").GetInt64());
        var lease = TimeSpan.FromMilliseconds(args.GetProperty("leaseMs").GetInt64());
        var collections = args.GetProperty("collections").EnumerateArray().Select(c => c.GetString()!).Order(StringComparer.Ordinal).ToList();
        var settings = ParseGroup(await context.GetAsync(SystemCollections.Groups, group, cancellationToken));
        if (settings is null)
        {
            var partitions = args.TryGetProperty("partitions", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : DefaultPartitions;
            settings = (collections, partitions);
            await context.PutAsync(SystemCollections.Groups, group, new JsonObject
            {
                ["collections"] = new JsonArray([.. collections.Select(c => JsonValue.Create(c))]),
                ["partitions"] = partitions,
                ["createdAt"] = now.ToString("O", CultureInfo.InvariantCulture),
            }, cancellationToken: cancellationToken);
        }
        else if (!settings.Value.Collections.SequenceEqual(collections, StringComparer.Ordinal))
        {
            throw new MutatorOpRejectedException(new Rejection(ErrorCodes.InvalidRequest,
                $"Group '{group}' reads [{string.Join(", ", settings.Value.Collections)}]; a member asked for [{string.Join(", ", collections)}]. Use another group name."));
        }
        var before = new PartitionLease[settings.Value.Partitions];
        for (var i = 0; i < before.Length; i++)
        {
            before[i] = ParseLease(i, await context.GetAsync(SystemCollections.Groups, PartitionId(group, i), cancellationToken));
        }
        var after = PartitionBalancer.Claim(before, member, now, lease);
        List<GroupAssignment> assigned = [];
        for (var i = 0; i < after.Count; i++)
        {
            if (after[i] != before[i])
            {
                await context.PutAsync(SystemCollections.Groups, PartitionId(group, i), LeaseJson(group, after[i]), cancellationToken: cancellationToken);
            }
            if (after[i].Owner == member && after[i].IsHeld(now))
            {
                assigned.Add(new GroupAssignment(i, after[i].Epoch, after[i].Checkpoint));
            }
        }
        return new JsonObject
        {
            ["group"] = group,
            ["collections"] = new JsonArray([.. settings.Value.Collections.Select(c => JsonValue.Create(c))]),
            ["partitions"] = settings.Value.Partitions,
            ["leaseMs"] = (long)lease.TotalMilliseconds,
            ["assigned"] = GroupAssignment.ToJson(assigned),
        };
    }

    /// <summary>
    /// Args: <c>{group, member, now, commits: [{partition, epoch, seq}]}</c>. Each partition must still be the
    /// member's under that epoch and unexpired; otherwise nothing is recorded (<c>lease_lost</c>). A seq past
    /// the log's head is refused (<c>invalid_request</c>): no member has handled what is not written yet, and a
    /// checkpoint there would make the group skip every change up to it. Checkpoints only move forward.
    /// </summary>
    public static async ValueTask<JsonNode?> CommitAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var group = args.GetProperty("group").GetString()!;
        var member = args.GetProperty("member").GetString()!;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(args.GetProperty("now").GetInt64());
        if (!GroupCommit.TryReadAll(args, out var commits))
        {
            throw new MutatorOpRejectedException(new Rejection(ErrorCodes.InvalidRequest, "'commits' is an array of {partition, epoch, seq}."));
        }
        foreach (var (partition, epoch, seq) in commits)
        {
            if (seq > context.Head)
            {
                throw new MutatorOpRejectedException(new Rejection(ErrorCodes.InvalidRequest,
                    $"Partition {partition} of group '{group}' cannot be committed at seq {seq}: the log's head is {context.Head}; nothing was committed.") with { OpIndex = partition });
            }
            var lease = ParseLease(partition, await context.GetAsync(SystemCollections.Groups, PartitionId(group, partition), cancellationToken));
            if (lease.Owner != member || lease.Epoch != epoch || !lease.IsHeld(now))
            {
                throw new MutatorOpRejectedException(new Rejection(ErrorCodes.LeaseLost,
                    $"Partition {partition} of group '{group}' is no longer held by '{member}' under epoch {epoch}; nothing was committed.") with { OpIndex = partition });
            }
            if (seq > lease.Checkpoint)
            {
                await context.PutAsync(SystemCollections.Groups, PartitionId(group, partition), LeaseJson(group, lease with { Checkpoint = seq }), cancellationToken: cancellationToken);
            }
        }
        return null;
    }

    /// <summary>Args: <c>{group, member, now}</c>. Gives back every partition the member holds, so others take them at once.</summary>
    public static async ValueTask<JsonNode?> LeaveAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var group = args.GetProperty("group").GetString()!;
        var member = args.GetProperty("member").GetString()!;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(args.GetProperty("now").GetInt64());
        if (ParseGroup(await context.GetAsync(SystemCollections.Groups, group, cancellationToken)) is not { } settings)
        {
            return null;
        }
        for (var i = 0; i < settings.Partitions; i++)
        {
            var lease = ParseLease(i, await context.GetAsync(SystemCollections.Groups, PartitionId(group, i), cancellationToken));
            if (lease.Owner == member)
            {
                await context.PutAsync(SystemCollections.Groups, PartitionId(group, i), LeaseJson(group, lease with { Owner = null, ExpiresAt = now }), cancellationToken: cancellationToken);
            }
        }
        return null;
    }
}
