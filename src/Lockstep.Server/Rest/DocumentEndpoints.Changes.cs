using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Http;

namespace Lockstep.Server.Rest;

internal static partial class DocumentEndpoints
{
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
        var limit = 1000;
        if (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 10_000))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'limit' must be an integer from 1 to 10000.");
            return;
        }
        double waitSeconds = 0;
        if (query.ContainsKey("wait") && (!double.TryParse(query["wait"], NumberStyles.Float, CultureInfo.InvariantCulture, out waitSeconds) || waitSeconds < 0 || double.IsNaN(waitSeconds)))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'wait' must be a number of seconds.");
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

        var wait = TimeSpan.FromSeconds(Math.Min(waitSeconds, engine.Options.MaxLongPollWait.TotalSeconds));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, engine.Stopping);
        deadline.CancelAfter(wait);
        while (true)
        {
            IReadOnlyList<Change> changes;
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
                changes = await reader.ReadChangesAsync(after, collections, limit, context.RequestAborted);
            }
            if (changes.Count > 0 || wait == TimeSpan.Zero || deadline.IsCancellationRequested)
            {
                // With a full page the cursor is the last change; otherwise everything up to head was seen.
                var cursor = changes.Count == limit ? changes[^1].Seq : Math.Max(after, head);
                await WriteChangesAsync(context, changes, cursor);
                return;
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

    private static Task WriteChangesAsync(HttpContext context, IReadOnlyList<Change> changes, long cursor) =>
        WriteJsonAsync(context, (changes, cursor), static (w, s) =>
        {
            w.WriteStartArray("changes");
            foreach (var c in s.changes)
            {
                WriteChange(w, c);
            }
            w.WriteEndArray();
            w.WriteNumber("cursor", s.cursor);
        });

    /// <summary>One change as the feed shows it: position, identity, version, clock, origin, delta and the whole document.</summary>
    internal static void WriteChange(Utf8JsonWriter w, Change c)
    {
        w.WriteStartObject();
        w.WriteNumber("seq", c.Seq);
        w.WriteString("collection", c.Collection);
        w.WriteString("id", c.Id);
        w.WriteNumber("version", c.Version);
        w.WriteString("hlc", c.Hlc.ToString());
        if (c.ClientId is not null)
        {
            w.WriteString("clientId", c.ClientId);
        }
        if (c.MutationNo is { } mid)
        {
            w.WriteNumber("mid", mid);
        }
        if (c.Deleted)
        {
            w.WriteBoolean("deleted", true);
        }
        else
        {
            if (c.Created)
            {
                w.WriteBoolean("created", true);
            }
            w.WritePropertyName("set");
            w.WriteRawValue(c.SetJson ?? "{}", skipInputValidation: true);
            if (c.UnsetJson is not null)
            {
                w.WritePropertyName("unset");
                w.WriteRawValue(c.UnsetJson, skipInputValidation: true);
            }
            w.WritePropertyName("doc");
            w.WriteRawValue(c.DocumentJson ?? "{}", skipInputValidation: true);
        }
        w.WriteEndObject();
    }
}
