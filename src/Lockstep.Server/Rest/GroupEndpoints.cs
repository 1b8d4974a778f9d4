using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>
/// Consumer groups over HTTP (docs/microservices.md): <c>claim</c> (join, heartbeat, rebalance),
/// <c>changes</c> (the member's partitions' changes after its positions), <c>commit</c>, <c>leave</c>.
/// </summary>
internal static class GroupEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapPost("/groups/{name}/claim", ClaimAsync);
        group.MapGet("/groups/{name}/changes", GroupChangesAsync);
        group.MapPost("/groups/{name}/commit", CommitAsync);
        group.MapPost("/groups/{name}/leave", LeaveAsync);
    }

    private static async Task<(string Member, JsonDocument Body)?> GroupRequestAsync(HttpContext context, string name)
    {
        if (!await CheckGroupAsync(context, name))
        {
            return null;
        }
        var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return null;
        }
        var member = RequestParser.GetString(body.RootElement, "member");
        if (!Names.IsValidClientId(member))
        {
            body.Dispose();
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'member' (this consumer's id, 1 to 128 characters, no control characters) is required.");
            return null;
        }
        // A member id belongs to its caller, as client ids do: another caller cannot commit or leave for it.
        return (CallerOf(context).ScopeClientId(member), body);
    }

    /// <summary>
    /// A valid group name, and a grant made for the group (docs/security.md): reading its collections is not
    /// enough, since whoever claims and commits decides what the group's other members ever see.
    /// </summary>
    private static async ValueTask<bool> CheckGroupAsync(HttpContext context, string name)
    {
        if (!ConsumerGroups.IsValidName(name))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{name}' is not a group name (1 to 64 characters, no '/' or '~').");
            return false;
        }
        if (!Engine(context).Access.CanUseGroup(CallerOf(context), name))
        {
            await Problems.Write(context, ErrorCodes.Forbidden,
                $"Consumer group '{name}' needs an API key with the groups or groups:{name} scope (or a rule in Lockstep:Auth:Groups); reading its collections is not enough.");
            return false;
        }
        return true;
    }

    /// <summary>A consumer must be able to read all of each collection its group reads.</summary>
    private static async ValueTask<bool> CanConsumeAsync(HttpContext context, IEnumerable<string> collections)
    {
        var caller = CallerOf(context);
        foreach (var collection in collections)
        {
            if (!Engine(context).Access.Read(caller, collection).All)
            {
                await Problems.Write(context, ErrorCodes.Forbidden, $"Consuming '{collection}' needs read access to all of it.");
                return false;
            }
        }
        return true;
    }

    /// <summary>How many collections one group may read: the group's state holds them, so a claim may not store a megabyte of names.</summary>
    private const int MaxGroupCollections = 100;

    private static async Task ClaimAsync(HttpContext context, string name)
    {
        if (await GroupRequestAsync(context, name) is not var (member, body))
        {
            return;
        }
        using var owned = body;
        var root = body.RootElement;
        if (!root.TryGetProperty("collections", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() is 0 or > MaxGroupCollections
            || list.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.String || !Names.IsValidCollection(c.GetString()) || SystemCollections.IsSystem(c.GetString()!)))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'collections' is an array of 1 to 100 collection names.");
            return;
        }
        var collections = list.EnumerateArray().Select(c => c.GetString()!).Distinct(StringComparer.Ordinal).ToList();
        if (!await CanConsumeAsync(context, collections))
        {
            return;
        }
        var args = new JsonObject
        {
            ["group"] = name,
            ["member"] = member,
            ["collections"] = new JsonArray([.. collections.Select(c => JsonValue.Create(c))]),
            ["leaseMs"] = 10_000L,
            ["now"] = Engine(context).Time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        if (root.TryGetProperty("partitions", out var p))
        {
            if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var count) || count < 1 || count > ConsumerGroups.MaxPartitions)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, $"'partitions' is a number from 1 to {ConsumerGroups.MaxPartitions} (used when the group is created).");
                return;
            }
            args["partitions"] = count;
        }
        if (root.TryGetProperty("leaseMs", out var l))
        {
            if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt64(out var ms) || ms < ConsumerGroups.MinLeaseMs || ms > ConsumerGroups.MaxLeaseMs)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, $"'leaseMs' is a number of milliseconds from {ConsumerGroups.MinLeaseMs} to {ConsumerGroups.MaxLeaseMs}.");
                return;
            }
            args["leaseMs"] = ms;
        }
        await GroupMutationAsync(context, ConsumerGroups.ClaimMutator, args);
    }

    private static async Task CommitAsync(HttpContext context, string name)
    {
        if (await GroupRequestAsync(context, name) is not var (member, body))
        {
            return;
        }
        using var owned = body;
        if (!body.RootElement.TryGetProperty("commits", out var commits) || commits.ValueKind != JsonValueKind.Array
            || commits.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.Object
                || !c.TryGetProperty("partition", out var p) || !p.TryGetInt32(out _)
                || !c.TryGetProperty("epoch", out var e) || !e.TryGetInt64(out _)
                || !c.TryGetProperty("seq", out var s) || !s.TryGetInt64(out _)))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'commits' is an array of {partition, epoch, seq}.");
            return;
        }
        var args = new JsonObject
        {
            ["group"] = name,
            ["member"] = member,
            ["now"] = Engine(context).Time.GetUtcNow().ToUnixTimeMilliseconds(),
            ["commits"] = JsonNode.Parse(commits.GetRawText()),
        };
        await GroupMutationAsync(context, ConsumerGroups.CommitMutator, args);
    }

    private static async Task LeaveAsync(HttpContext context, string name)
    {
        if (await GroupRequestAsync(context, name) is not var (member, body))
        {
            return;
        }
        body.Dispose();
        await GroupMutationAsync(context, ConsumerGroups.LeaveMutator, new JsonObject
        {
            ["group"] = name,
            ["member"] = member,
            ["now"] = Engine(context).Time.GetUtcNow().ToUnixTimeMilliseconds(),
        });
    }

    private static async Task GroupMutationAsync(HttpContext context, string mutator, JsonObject args)
    {
        using var doc = JsonDocument.Parse(args.ToJsonString());
        var result = await Engine(context).Sequencer.SubmitAsync(new WriteRequest(mutator, doc.RootElement.Clone(), null, null), context.RequestAborted);
        if (result.Rejection is { } rejection)
        {
            await Problems.Write(context, rejection);
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync((result.Value ?? new JsonObject { ["ok"] = true }).ToJsonString(), context.RequestAborted);
    }

    /// <summary>
    /// <c>GET /v1/groups/{name}/changes?member=&amp;from=P:SEQ,P:SEQ&amp;limit=&amp;wait=</c>: the changes of the member's
    /// partitions after its positions (the partition's checkpoint when a position is not given), in seq
    /// order, with each partition's new position; partitions it no longer holds are listed as <c>lost</c>.
    /// </summary>
    private static async Task GroupChangesAsync(HttpContext context, string name)
    {
        if (!await CheckGroupAsync(context, name))
        {
            return;
        }
        var query = context.Request.Query;
        var member = query["member"].ToString();
        if (!Names.IsValidClientId(member))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'member' (this consumer's id, 1 to 128 characters, no control characters) is required.");
            return;
        }
        var positions = new Dictionary<int, long>();
        foreach (var item in query["from"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var p)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, "'from' lists PARTITION:SEQ pairs, comma-separated.");
                return;
            }
            positions[p] = seq;
        }
        if (!TryFeedParameters(context, defaultLimit: 500, out var limit, out var wait, out var problem))
        {
            await problem;
            return;
        }
        var engine = Engine(context);
        var reader = new ConsumerGroupReader(engine.Store, engine.Time, name, CallerOf(context).ScopeClientId(member));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, engine.Stopping);
        deadline.CancelAfter(wait);
        while (true)
        {
            var batch = await reader.ReadAsync(positions, limit, context.RequestAborted);
            if (batch is null)
            {
                await Problems.Write(context, ErrorCodes.NotFound, $"Group '{name}' does not exist; a member creates it with claim.");
                return;
            }
            if (!await CanConsumeAsync(context, batch.Collections))
            {
                return;
            }
            if (batch.Expired is { } expired)
            {
                await Problems.Write(context, ErrorCodes.CursorExpired, $"Partition {expired} is behind the log's horizon ({batch.Horizon}): changes it has not handled were compacted away.");
                return;
            }
            if (batch.Events.Count > 0 || wait == TimeSpan.Zero || deadline.IsCancellationRequested || batch.Positions.Count == 0)
            {
                await WriteJsonAsync(context, (batch, reader: CallerOf(context)), static (w, s) => s.batch.Write(w, s.reader));
                return;
            }
            foreach (var (p, seq) in batch.Positions)
            {
                positions[p] = seq;
            }
            try
            {
                await engine.FanOut.WaitPastAsync(batch.Head, deadline.Token);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                // time is up: one more read, then answer whatever there is
            }
        }
    }
}
