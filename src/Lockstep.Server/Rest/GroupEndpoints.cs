using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>
/// Consumer groups over HTTP (docs/microservices.md) over <see cref="GroupService"/>: <c>claim</c> (join, heartbeat,
/// rebalance), <c>changes</c> (the member's partitions' changes after its positions), <c>commit</c>, <c>leave</c>.
/// </summary>
internal static class GroupEndpoints
{
    private const string MemberRequired = "'member' (this consumer's id, 1 to 128 characters, no control characters) is required.";

    public static void Map(RouteGroupBuilder group)
    {
        group.MapPost("/groups/{name}/claim", ClaimAsync);
        group.MapGet("/groups/{name}/changes", GroupChangesAsync);
        group.MapPost("/groups/{name}/commit", CommitAsync);
        group.MapPost("/groups/{name}/leave", LeaveAsync);
    }

    /// <summary>The group admitted, then the body and its <c>member</c>; null with the problem written.</summary>
    private static async Task<(string Member, JsonDocument Body)?> GroupRequestAsync(HttpContext context, GroupService groups, string name)
    {
        if (groups.Admit(CallerOf(context), name) is { } refusal)
        {
            await Problems.Write(context, refusal);
            return null;
        }
        var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return null;
        }
        var member = RequestReader.GetString(body.RootElement, "member");
        if (!Names.IsValidClientId(member))
        {
            body.Dispose();
            await Problems.Write(context, ErrorCodes.InvalidRequest, MemberRequired);
            return null;
        }
        return (member, body);
    }

    private static async Task ClaimAsync(HttpContext context, string name, [FromServices] GroupService groups)
    {
        if (await GroupRequestAsync(context, groups, name) is not var (member, body))
        {
            return;
        }
        using var owned = body;
        var root = body.RootElement;
        if (!root.TryGetProperty("collections", out var list) || list.ValueKind != JsonValueKind.Array
            || list.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.String)
            || !GroupService.AreGroupCollections([.. list.EnumerateArray().Select(c => c.GetString())]))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'collections' is an array of 1 to 100 collection names.");
            return;
        }
        var collections = list.EnumerateArray().Select(c => c.GetString()!).Distinct(StringComparer.Ordinal).ToList();
        var caller = CallerOf(context);
        // Checked before the numbers, as the service will again: a caller that may not consume learns nothing more.
        if (groups.CheckConsumes(caller, collections) is { } denied)
        {
            await Problems.Write(context, denied);
            return;
        }
        int? partitions = null;
        if (root.TryGetProperty("partitions", out var p))
        {
            if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var count) || count < 1 || count > ConsumerGroups.MaxPartitions)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, $"'partitions' is a number from 1 to {ConsumerGroups.MaxPartitions} (used when the group is created).");
                return;
            }
            partitions = count;
        }
        long? leaseMs = null;
        if (root.TryGetProperty("leaseMs", out var l))
        {
            if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt64(out var ms) || ms < ConsumerGroups.MinLeaseMs || ms > ConsumerGroups.MaxLeaseMs)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, $"'leaseMs' is a number of milliseconds from {ConsumerGroups.MinLeaseMs} to {ConsumerGroups.MaxLeaseMs}.");
                return;
            }
            leaseMs = ms;
        }
        await AnswerAsync(context, await groups.ClaimAsync(caller, name, member, collections, partitions, leaseMs, context.RequestAborted));
    }

    private static async Task CommitAsync(HttpContext context, string name, [FromServices] GroupService groups)
    {
        if (await GroupRequestAsync(context, groups, name) is not var (member, body))
        {
            return;
        }
        using var owned = body;
        if (!GroupCommit.TryReadAll(body.RootElement, out var commits))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'commits' is an array of {partition, epoch, seq}.");
            return;
        }
        await AnswerAsync(context, await groups.CommitAsync(CallerOf(context), name, member, commits, context.RequestAborted));
    }

    private static async Task LeaveAsync(HttpContext context, string name, [FromServices] GroupService groups)
    {
        if (await GroupRequestAsync(context, groups, name) is not var (member, body))
        {
            return;
        }
        body.Dispose();
        await AnswerAsync(context, await groups.LeaveAsync(CallerOf(context), name, member, context.RequestAborted));
    }

    /// <summary>A group mutator's answer: its value as JSON, or its refusal.</summary>
    private static async Task AnswerAsync(HttpContext context, Outcome<System.Text.Json.Nodes.JsonNode> outcome)
    {
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(outcome.Value.ToJsonString(), context.RequestAborted);
    }

    /// <summary>
    /// <c>GET /v1/groups/{name}/changes?member=&amp;from=P:SEQ,P:SEQ&amp;limit=&amp;wait=</c>: the changes of the member's
    /// partitions after its positions (the partition's checkpoint when a position is not given), in seq
    /// order, with each partition's new position; partitions it no longer holds are listed as <c>lost</c>.
    /// </summary>
    private static async Task GroupChangesAsync(HttpContext context, string name, [FromServices] GroupService groups)
    {
        var caller = CallerOf(context);
        if (groups.Admit(caller, name) is { } refusal)
        {
            await Problems.Write(context, refusal);
            return;
        }
        var query = context.Request.Query;
        var member = query["member"].ToString();
        if (!Names.IsValidClientId(member))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, MemberRequired);
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
        var outcome = await groups.ReadAsync(caller, name, member, positions, limit, wait, context.RequestAborted);
        if (outcome.IsRefused(out refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, (batch: outcome.Value, caller), static (w, s) => s.batch.Write(w, s.caller));
    }
}
