using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>The change feed, <c>GET /v1/changes</c> (docs/protocol.md §9).</summary>
internal static class ChangeFeedEndpoints
{
    public static void Map(RouteGroupBuilder group) => group.MapGet("/changes", GetChangesAsync);

    /// <summary>
    /// <c>GET /v1/changes?after=&amp;collections=a,b&amp;limit=&amp;wait=</c>: the changes after a seq, in
    /// order; with <c>wait</c> (seconds) it long-polls until there is at least one or the time is up.
    /// The returned <c>cursor</c> is the position to pass as <c>after</c> next time.
    /// </summary>
    private static async Task GetChangesAsync(HttpContext context)
    {
        var query = context.Request.Query;
        var engine = Engine(context);
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

        // Read rules: a collection asked for by name must be readable; otherwise unreadable ones are left
        // out, and under an owner rule only the caller's documents show.
        var caller = CallerOf(context);
        var grants = new Dictionary<string, Grant>(StringComparer.Ordinal);
        Grant GrantOf(string collection) =>
            grants.TryGetValue(collection, out var known) ? known : grants[collection] = engine.Access.Read(caller, collection);
        if (collections?.FirstOrDefault(c => GrantOf(c).None) is { } denied)
        {
            await Problems.Write(context, ErrorCodes.Forbidden, $"You may not read '{denied}'.");
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, engine.Stopping);
        deadline.CancelAfter(wait);
        while (true)
        {
            IReadOnlyList<Change> changes;
            List<(Change Change, bool Removed)> visible;
            long head;
            long horizon;
            await using (var reader = await engine.Store.BeginReadAsync(context.RequestAborted))
            {
                head = reader.Head;
                horizon = reader.Horizon;
                if (after < horizon)
                {
                    await Problems.Write(context, ErrorCodes.CursorExpired,
                        $"Changes up to {horizon} are no longer in the log; read the documents again and continue from seq {head}.");
                    return;
                }
                if (after > head)
                {
                    // As the socket refuses to resume such a cursor (a reset): an empty page would leave the
                    // reader waiting for seqs that were given out again, to other changes, or never will be.
                    await Problems.Write(context, ErrorCodes.CursorExpired,
                        $"'after' {after} is beyond the log's head {head} (the data was restored from an older backup, or the cursor is another server's); read the documents again and continue from seq {head}.");
                    return;
                }
                changes = await reader.ReadChangesAsync(after, collections, limit, context.RequestAborted);
                visible = await VisibleChangesAsync(changes, GrantOf, reader, context.RequestAborted);
            }
            // With a full page the cursor is the last change; otherwise everything up to head was seen.
            var cursor = changes.Count == limit ? changes[^1].Seq : Math.Max(after, head);
            if (visible.Count > 0 || wait == TimeSpan.Zero || deadline.IsCancellationRequested)
            {
                await WriteChangesAsync(context, visible, cursor, caller);
                return;
            }
            if (changes.Count > 0)
            {
                after = cursor; // nothing here for this caller: keep waiting past it
                continue;
            }
            try
            {
                await engine.FanOut.WaitPastAsync(head, deadline.Token);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                // time is up: one more read, then answer whatever there is
            }
        }
    }

    /// <summary>
    /// The changes the caller may see: all of readable collections, and under an owner rule the changes
    /// that leave a document the caller's, plus a bodiless "removed" entry for one that stops being the
    /// caller's (deleted, or given to another). When the document's previous version is compacted away,
    /// whether it was the caller's is unknown and the change is left out.
    /// </summary>
    private static async Task<List<(Change Change, bool Removed)>> VisibleChangesAsync(IReadOnlyList<Change> changes, Func<string, Grant> grantOf, IStoreReader reader, CancellationToken cancellationToken)
    {
        var visible = new List<(Change, bool)>(changes.Count);
        foreach (var change in changes)
        {
            var grant = grantOf(change.Collection);
            if (grant.All)
            {
                visible.Add((change, false));
            }
            else if (grant.None)
            {
                continue;
            }
            else if (!change.Deleted && grant.Allows(change.Document))
            {
                visible.Add((change, false));
            }
            else if (!change.Created && change.PreviousSeq > 0
                && await reader.GetBodyAsync(change.PreviousSeq, cancellationToken) is (true, { } previous) && grant.Allows(Parse(previous)))
            {
                visible.Add((change, true));
            }
        }
        return visible;
    }

    private static Task WriteChangesAsync(HttpContext context, List<(Change Change, bool Removed)> changes, long cursor, Caller reader) =>
        WriteJsonAsync(context, (changes, cursor, reader), static (w, s) =>
        {
            w.WriteStartArray("changes");
            foreach (var (c, removed) in s.changes)
            {
                JsonBodies.WriteFeedChange(w, removed ? Frames.FeedRemoved(c) : Frames.Feed(c, s.reader));
            }
            w.WriteEndArray();
            w.WriteNumber("cursor", s.cursor);
        });
}
