using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>The REST API: documents, mutations and the change feed (consumer groups and webhooks in the other parts; status in <see cref="ServerEndpoints"/>). Every 2xx answer to a write means it is durable.</summary>
internal static class DocumentEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.AddEndpointFilter(RequestAdmission.AuthenticateAsync);
        group.AddEndpointFilter(RequestAdmission.RateLimitAsync);
        group.MapGet("/collections/{collection}/docs/{id}", GetDocumentAsync);
        group.MapPut("/collections/{collection}/docs/{id}", PutDocumentAsync);
        group.MapPatch("/collections/{collection}/docs/{id}", PatchDocumentAsync);
        group.MapDelete("/collections/{collection}/docs/{id}", DeleteDocumentAsync);
        group.MapGet("/collections/{collection}/docs", ListDocumentsAsync);
        group.MapPost("/mutations", PostMutationAsync);
        ChangeFeedEndpoints.Map(group);
        ServerEndpoints.Map(group);
        GroupEndpoints.Map(group);
        WebhookEndpoints.Map(group);
    }

    /// <summary>What the caller may read of a collection; writes 403 and returns null when nothing.</summary>
    private static async ValueTask<Grant?> ReadGrantAsync(HttpContext context, string collection)
    {
        var grant = Engine(context).Access.Read(CallerOf(context), collection);
        if (grant.None)
        {
            await Problems.Write(context, ErrorCodes.Forbidden, $"You may not read '{collection}'.");
            return null;
        }
        return grant;
    }

    private static async Task GetDocumentAsync(HttpContext context, string collection, string id)
    {
        if (!CheckNames(context, collection, id, out var problem))
        {
            await problem;
            return;
        }
        if (await ReadGrantAsync(context, collection) is not { } grant)
        {
            return;
        }
        var engine = Engine(context);
        await using var reader = await engine.Store.BeginReadAsync(context.RequestAborted);
        var doc = await reader.GetDocumentAsync(collection, id, context.RequestAborted);
        // Another's document under an owner rule is "not found": its existence is not the caller's to know.
        if (doc is not { Deleted: false } || (!grant.All && !grant.Allows(Parse(doc.Json))))
        {
            await Problems.Write(context, ErrorCodes.NotFound, $"{collection}/{id} does not exist.");
            return;
        }
        var etag = Problems.Etag(doc.Version);
        context.Response.Headers.ETag = etag;
        context.Response.Headers["Lockstep-Seq"] = doc.Seq.ToString(CultureInfo.InvariantCulture);
        if (context.Request.Headers.IfNoneMatch.Any(v => v == etag))
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(doc.Json ?? "{}", context.RequestAborted);
    }

    private static Task PutDocumentAsync(HttpContext context, string collection, string id) =>
        WriteBodyAsync(context, collection, id, (body, ifVersion) => new PutOp(collection, id, body) { IfVersion = ifVersion });

    private static Task PatchDocumentAsync(HttpContext context, string collection, string id) =>
        WriteBodyAsync(context, collection, id, (body, ifVersion) => new MergePatchOp(collection, id, body) { IfVersion = ifVersion });

    /// <summary>The shared path of PUT and PATCH: names, body, preconditions, then one write.</summary>
    private static async Task WriteBodyAsync(HttpContext context, string collection, string id, Func<JsonObject, long?, DocumentOp> operation)
    {
        if (!CheckNames(context, collection, id, out var problem))
        {
            await problem;
            return;
        }
        using var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        if (!TryPreconditions(context, out var ifVersion))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "If-Match takes one version ETag such as \"3\" (or *); If-None-Match takes *.");
            return;
        }
        await WriteOneAsync(context, operation(RequestParser.ToObject(body.RootElement), ifVersion));
    }

    private static async Task DeleteDocumentAsync(HttpContext context, string collection, string id)
    {
        if (!CheckNames(context, collection, id, out var problem))
        {
            await problem;
            return;
        }
        if (!TryPreconditions(context, out var ifVersion))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "If-Match takes one version ETag such as \"3\".");
            return;
        }
        await WriteOneAsync(context, new DeleteOp(collection, id) { IfVersion = ifVersion });
    }

    private static async Task WriteOneAsync(HttpContext context, DocumentOp op)
    {
        if (!TryIdempotencyKey(context, null, null, out var clientId, out var mid, out var refusal))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, refusal!);
            return;
        }
        var result = await Engine(context).Sequencer.SubmitAsync(new WriteRequest([op], clientId, mid) { Caller = CallerOf(context) }, context.RequestAborted);
        if (result.Rejection is { } rejection)
        {
            // A failed If-Match is 412 Precondition Failed in HTTP terms.
            var status = rejection.Error == ErrorCodes.VersionConflict && context.Request.Headers.IfMatch.Count + context.Request.Headers.IfNoneMatch.Count > 0 ? 412 : (int?)null;
            await Problems.Write(context, result, status);
            return;
        }
        var written = result.Results[0];
        if (op is not DeleteOp)
        {
            context.Response.Headers.ETag = Problems.Etag(written.Version);
        }
        context.Response.StatusCode = written.Version == 1 && op is not DeleteOp ? StatusCodes.Status201Created : StatusCodes.Status200OK;
        await WriteJsonAsync(context, result, static (w, r) =>
        {
            var d = r.Results[0];
            w.WriteString("collection", d.Collection);
            w.WriteString("id", d.Id);
            w.WriteNumber("v", d.Version);
            w.WriteNumber("seq", r.Seq);
            if (r.Duplicate)
            {
                w.WriteBoolean("dup", true);
            }
        });
    }

    /// <summary>
    /// The idempotency key of a REST write: the <c>Lockstep-Client-Id</c> and <c>Lockstep-Mutation-Id</c>
    /// headers, or the body's <c>clientId</c> and <c>mid</c> (<c>POST /v1/mutations</c>; where both are
    /// given they must agree). A mutation number without a client id is refused rather than ignored: it
    /// could not be recorded, and a retry would apply twice.
    /// </summary>
    private static bool TryIdempotencyKey(HttpContext context, string? clientId, long? mid, out string? scopedClientId, out long? scopedMid, out string? refusal)
    {
        scopedClientId = null;
        scopedMid = null;
        refusal = null;
        var headers = context.Request.Headers;
        if (headers.ContainsKey("Lockstep-Mutation-Id"))
        {
            if (!long.TryParse(headers["Lockstep-Mutation-Id"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
            {
                refusal = "Lockstep-Mutation-Id must be a positive integer.";
                return false;
            }
            if (mid is not null && mid != n)
            {
                refusal = "'mid' and Lockstep-Mutation-Id disagree.";
                return false;
            }
            mid = n;
        }
        if (headers["Lockstep-Client-Id"].ToString() is { Length: > 0 } header)
        {
            if (clientId is not null && clientId != header)
            {
                refusal = "'clientId' and Lockstep-Client-Id disagree.";
                return false;
            }
            clientId = header;
        }
        if (mid is not null && clientId is null)
        {
            refusal = "A mutation number ('mid' or Lockstep-Mutation-Id) needs a client id ('clientId' or Lockstep-Client-Id): mutations are numbered per client.";
            return false;
        }
        scopedClientId = clientId is null ? null : CallerOf(context).ScopeClientId(clientId);
        scopedMid = mid;
        return true;
    }

    private static bool TryPreconditions(HttpContext context, out long? ifVersion)
    {
        ifVersion = null;
        var ifMatch = context.Request.Headers.IfMatch;
        var ifNoneMatch = context.Request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count > 0)
        {
            if (ifNoneMatch.ToString().Trim() != "*")
            {
                return false;
            }
            ifVersion = 0;
        }
        if (ifMatch.Count > 0)
        {
            var value = ifMatch.ToString().Trim();
            if (value == "*")
            {
                return true; // "*": no version check
            }
            if (!EntityTagHeaderValue.TryParse(value, out var tag) || tag.IsWeak
                || !long.TryParse(tag.Tag.AsSpan(1, tag.Tag.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1)
            {
                return false;
            }
            ifVersion = v;
        }
        return true;
    }

    private static async Task ListDocumentsAsync(HttpContext context, string collection)
    {
        if (!Names.IsValidCollection(collection))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{collection}' is not a valid collection name.");
            return;
        }
        var query = context.Request.Query;
        if (!Filter.TryParse(query["filter"].ToString(), Engine(context).Options.FilterLimits, out var filter, out var refusal))
        {
            await Problems.Write(context, refusal!.Error, refusal.Message);
            return;
        }
        var limit = 100;
        if (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 1000))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'limit' must be an integer from 1 to 1000.");
            return;
        }
        var after = query["after"].ToString();
        if (await ReadGrantAsync(context, collection) is not { } grant)
        {
            return;
        }
        var engine = Engine(context);
        await using var reader = await engine.Store.BeginReadAsync(context.RequestAborted);
        // One document past the page is looked for: "next" is set only when another document the caller may
        // see follows. Set whenever any document followed, it would tell an owner-rule caller that others'
        // documents sort after its own, and let it narrow down their ids listing after listing.
        var docs = new List<StoredDocument>(limit + 1);
        string? cursor = string.IsNullOrEmpty(after) ? null : after;
        var more = true;
        var pageSize = Math.Max(limit + 1, 100);
        while (docs.Count <= limit && more)
        {
            var page = await reader.ListDocumentsAsync(collection, cursor, pageSize, includeDeleted: false, context.RequestAborted);
            more = page.Count == pageSize;
            foreach (var doc in page)
            {
                cursor = doc.Id;
                if ((filter.MatchesAll && grant.All) || Visible(filter, grant, Parse(doc.Json)))
                {
                    docs.Add(doc);
                    if (docs.Count > limit)
                    {
                        break;
                    }
                }
            }
        }
        string? next = null;
        if (docs.Count > limit)
        {
            docs.RemoveAt(limit);
            next = docs[^1].Id; // pass it as "after" for the next page
        }
        await WriteJsonAsync(context, (docs, next, reader.Head), static (w, s) =>
        {
            w.WriteStartArray("docs");
            foreach (var d in s.docs)
            {
                JsonBodies.WriteListedDocument(w, Frames.Listed(d));
            }
            w.WriteEndArray();
            if (s.next is null)
            {
                w.WriteNull("next");
            }
            else
            {
                w.WriteString("next", s.next);
            }
            w.WriteNumber("seq", s.Head);
        });
    }

    private static async Task PostMutationAsync(HttpContext context)
    {
        using var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var root = body.RootElement;
        var engine = Engine(context);
        var clientId = RequestParser.GetString(root, "clientId");
        long? mid = null;
        if (root.TryGetProperty("mid", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt64(out var n) || n <= 0)
            {
                await Problems.Write(context, ErrorCodes.InvalidRequest, "'mid' must be a positive integer.");
                return;
            }
            mid = n;
        }
        if (clientId is not null && !Names.IsValidClientId(clientId))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, RequestParser.InvalidClientIdMessage("'clientId'"));
            return;
        }
        if (!TryIdempotencyKey(context, clientId, mid, out clientId, out mid, out var refusal))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, refusal!);
            return;
        }
        WriteRequest request;
        var caller = CallerOf(context);
        if (RequestParser.GetString(root, "name") is { } name)
        {
            var args = root.TryGetProperty("args", out var a) ? a.Clone() : default;
            request = new WriteRequest(name, args, clientId, mid) { Caller = caller };
        }
        else if (root.TryGetProperty("ops", out var ops))
        {
            if (!RequestParser.TryParseOps(ops, engine.Options.MaxOpsPerMutation, out var parsed, out var rejection))
            {
                await Problems.Write(context, rejection!);
                return;
            }
            request = new WriteRequest(parsed, clientId, mid) { Caller = caller };
        }
        else
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "A mutation has 'ops' (a batch) or 'name' and 'args' (a mutator call).");
            return;
        }
        var result = await engine.Sequencer.SubmitAsync(request, context.RequestAborted);
        if (!result.Succeeded)
        {
            await Problems.Write(context, result);
            return;
        }
        await WriteJsonAsync(context, result, static (w, res) => JsonBodies.WriteAckFields(w, Frames.Ack(null, res)));
    }

    private static bool Visible(Filter filter, Grant grant, JsonElement? document) => filter.Matches(document) && grant.Allows(document);


}
