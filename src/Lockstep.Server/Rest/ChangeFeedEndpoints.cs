using System.Globalization;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>The change feed, <c>GET /v1/changes</c> (docs/protocol.md §9).</summary>
internal static class ChangeFeedEndpoints
{
    public static void Map(RouteGroupBuilder group) => group.MapGet("/changes", GetChangesAsync);

    /// <summary>
    /// <c>GET /v1/changes?after=&amp;collections=a,b&amp;limit=&amp;wait=</c>: the changes after a seq, in
    /// order, read by <see cref="ChangeFeedService"/>; with <c>wait</c> (seconds) it long-polls until there is at
    /// least one or the time is up. The returned <c>cursor</c> is the position to pass as <c>after</c> next time.
    /// </summary>
    private static async Task GetChangesAsync(HttpContext context, [FromServices] ChangeFeedService feed)
    {
        var query = context.Request.Query;
        long after = 0;
        if (query.ContainsKey("after") && (!long.TryParse(query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out after)))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'after' must be a non-negative integer (a seq).");
            return;
        }
        if (!TryFeedParameters(context, defaultLimit: 1000, out var limit, out var wait, out var problem))
        {
            await problem;
            return;
        }
        List<string>? collections = null;
        var names = query["collections"].ToString();
        if (!string.IsNullOrWhiteSpace(names))
        {
            collections = [.. names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
            if (collections.FirstOrDefault(c => !Names.IsValidCollection(c)) is { } bad)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{bad}' is not a valid collection name.");
                return;
            }
        }
        var caller = CallerOf(context);
        var outcome = await feed.ReadAsync(caller, after, collections, limit, wait, context.RequestAborted);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, (page: outcome.Value, caller), static (w, s) =>
        {
            w.WriteStartArray("changes");
            foreach (var (c, removed) in s.page.Changes)
            {
                JsonBodies.WriteFeedChange(w, removed ? Frames.FeedRemoved(c) : Frames.Feed(c, s.caller));
            }
            w.WriteEndArray();
            w.WriteNumber("cursor", s.page.Cursor);
        });
    }
}
