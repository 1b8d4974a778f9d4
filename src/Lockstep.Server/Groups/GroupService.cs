using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Consumer groups on a caller's behalf (docs/microservices.md): who may use a group, claim (join, heartbeat,
/// rebalance), commit and leave through the groups' mutators (<see cref="ConsumerGroups"/>), and the member's
/// changes, long-polled on the fan-out. A member id belongs to its caller, as client ids do: it is scoped here, so
/// another caller cannot commit or leave for it.
/// </summary>
internal sealed class GroupService
{
    /// <summary>How many collections one group may read: the group's state holds them, so a claim may not store a megabyte of names.</summary>
    public const int MaxCollections = 100;

    /// <summary>The lease a claim gets when it asks for none.</summary>
    public const long DefaultLeaseMs = 10_000;

    private readonly IChangeStore _store;
    private readonly AccessPolicy _access;
    private readonly MutationService _mutations;
    private readonly FanOut _fanOut;
    private readonly EngineLifetime _lifetime;
    private readonly TimeProvider _time;

    public GroupService(IChangeStore store, AccessPolicy access, MutationService mutations, FanOut fanOut, EngineLifetime lifetime, TimeProvider time)
    {
        _store = store;
        _access = access;
        _mutations = mutations;
        _fanOut = fanOut;
        _lifetime = lifetime;
        _time = time;
    }

    /// <summary>
    /// Null when <paramref name="name"/> is a group name and the caller has a grant made for the group (docs/security.md):
    /// reading its collections is not enough, since whoever claims and commits decides what the group's other members ever see.
    /// </summary>
    public Rejection? Admit(Caller caller, string name)
    {
        if (!ConsumerGroups.IsValidName(name))
        {
            return new Rejection(ErrorCodes.InvalidRequest, $"'{name}' is not a group name (1 to 64 characters, no '/' or '~').");
        }
        return _access.CanUseGroup(caller, name)
            ? null
            : new Rejection(ErrorCodes.Forbidden,
                $"Consumer group '{name}' needs an API key with the groups or groups:{name} scope (or a rule in Lockstep:Auth:Groups); reading its collections is not enough.");
    }

    /// <summary>Null when the caller may read all of each collection: a consumer sees every change of its partitions.</summary>
    public Rejection? CheckConsumes(Caller caller, IEnumerable<string> collections)
    {
        foreach (var collection in collections)
        {
            if (!_access.Read(caller, collection).All)
            {
                return new Rejection(ErrorCodes.Forbidden, $"Consuming '{collection}' needs read access to all of it.");
            }
        }
        return null;
    }

    /// <summary>True for the collections a group may read: 1 to <see cref="MaxCollections"/> names, none of them a system collection.</summary>
    public static bool AreGroupCollections(IReadOnlyCollection<string?> collections) =>
        collections.Count is > 0 and <= MaxCollections && collections.All(c => Names.IsValidCollection(c) && !SystemCollections.IsSystem(c!));

    /// <summary>Joins (or heartbeats) as <paramref name="member"/>, creating the group on first use; the member's partitions with their epochs and checkpoints.</summary>
    public Task<Outcome<JsonNode>> ClaimAsync(Caller caller, string name, string member, IReadOnlyList<string> collections, int? partitions, long? leaseMs, CancellationToken cancellationToken)
    {
        if ((Admit(caller, name) ?? CheckConsumes(caller, collections)) is { } refusal)
        {
            return Task.FromResult<Outcome<JsonNode>>(refusal);
        }
        var args = new JsonObject
        {
            ["group"] = name,
            ["member"] = caller.ScopeClientId(member),
            ["collections"] = new JsonArray([.. collections.Distinct(StringComparer.Ordinal).Select(c => JsonValue.Create(c))]),
            ["leaseMs"] = leaseMs ?? DefaultLeaseMs,
            ["now"] = Now(),
        };
        if (partitions is { } count)
        {
            args["partitions"] = count;
        }
        return CallAsync(ConsumerGroups.ClaimMutator, args, cancellationToken);
    }

    /// <summary>Records the member's positions; nothing when one partition is no longer its own under that epoch (<c>lease_lost</c>).</summary>
    public Task<Outcome<JsonNode>> CommitAsync(Caller caller, string name, string member, IReadOnlyList<GroupCommit> commits, CancellationToken cancellationToken)
    {
        if (Admit(caller, name) is { } refusal)
        {
            return Task.FromResult<Outcome<JsonNode>>(refusal);
        }
        return CallAsync(ConsumerGroups.CommitMutator, new JsonObject
        {
            ["group"] = name,
            ["member"] = caller.ScopeClientId(member),
            ["now"] = Now(),
            ["commits"] = GroupCommit.ToJson(commits),
        }, cancellationToken);
    }

    /// <summary>Gives back every partition the member holds, so the others take them at once.</summary>
    public Task<Outcome<JsonNode>> LeaveAsync(Caller caller, string name, string member, CancellationToken cancellationToken)
    {
        if (Admit(caller, name) is { } refusal)
        {
            return Task.FromResult<Outcome<JsonNode>>(refusal);
        }
        return CallAsync(ConsumerGroups.LeaveMutator, new JsonObject
        {
            ["group"] = name,
            ["member"] = caller.ScopeClientId(member),
            ["now"] = Now(),
        }, cancellationToken);
    }

    /// <summary>
    /// The changes of the member's partitions after its positions (the partition's checkpoint where none is given), up to
    /// <paramref name="limit"/>; with none, waits up to <paramref name="wait"/>. <c>not_found</c> for a group no one
    /// claimed yet, <c>cursor_expired</c> for a partition behind the log's horizon.
    /// </summary>
    public async Task<Outcome<GroupBatch>> ReadAsync(Caller caller, string name, string member, IReadOnlyDictionary<int, long> from, int limit, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (Admit(caller, name) is { } refusal)
        {
            return refusal;
        }
        var positions = new Dictionary<int, long>(from);
        var reader = new ConsumerGroupReader(_store, _time, name, caller.ScopeClientId(member));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Stopping);
        deadline.CancelAfter(wait);
        while (true)
        {
            var batch = await reader.ReadAsync(positions, limit, cancellationToken);
            if (batch is null)
            {
                return new Rejection(ErrorCodes.NotFound, $"Group '{name}' does not exist; a member creates it with claim.");
            }
            if (CheckConsumes(caller, batch.Collections) is { } denied)
            {
                return denied;
            }
            if (batch.Expired is { } expired)
            {
                return new Rejection(ErrorCodes.CursorExpired, $"Partition {expired} is behind the log's horizon ({batch.Horizon}): changes it has not handled were compacted away.");
            }
            if (batch.Events.Count > 0 || wait == TimeSpan.Zero || deadline.IsCancellationRequested || batch.Positions.Count == 0)
            {
                return batch;
            }
            foreach (var (p, seq) in batch.Positions)
            {
                positions[p] = seq;
            }
            try
            {
                await _fanOut.WaitPastAsync(batch.Head, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // time is up: one more read, then answer whatever there is
            }
        }
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task<Outcome<JsonNode>> CallAsync(string mutator, JsonObject args, CancellationToken cancellationToken)
    {
        using var doc = JsonDocument.Parse(args.ToJsonString());
        var result = await _mutations.CallSystemAsync(mutator, doc.RootElement.Clone(), cancellationToken);
        if (result.Rejection is { } rejection)
        {
            return rejection;
        }
        return result.Value ?? new JsonObject { ["ok"] = true };
    }
}
