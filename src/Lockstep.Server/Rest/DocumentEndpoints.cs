using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>
/// The REST API's documents and mutations over <see cref="DocumentService"/> and <see cref="MutationService"/>, and the route group
/// the other areas join (<see cref="ChangeFeedEndpoints"/>, <see cref="ServerEndpoints"/>, <see cref="GroupEndpoints"/>,
/// <see cref="WebhookEndpoints"/>). Every 2xx answer to a write means it is durable.
/// </summary>
internal static class DocumentEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.AddEndpointFilterFactory(RequestAdmission.Authenticate);
        group.AddEndpointFilterFactory(RequestAdmission.RateLimit);
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

    private static async Task GetDocumentAsync(HttpContext context, string collection, string id, [FromServices] DocumentService documents)
    {
        if (!CheckNames(context, collection, id, out var problem))
        {
            await problem;
            return;
        }
        var outcome = await documents.GetAsync(CallerOf(context), collection, id, context.RequestAborted);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        var doc = outcome.Value;
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

    private static Task PutDocumentAsync(HttpContext context, string collection, string id, [FromServices] DocumentService documents) =>
        WriteBodyAsync(context, documents, collection, id, (body, ifVersion) => new PutOp(collection, id, body) { IfVersion = ifVersion });

    private static Task PatchDocumentAsync(HttpContext context, string collection, string id, [FromServices] DocumentService documents) =>
        WriteBodyAsync(context, documents, collection, id, (body, ifVersion) => new MergePatchOp(collection, id, body) { IfVersion = ifVersion });

    /// <summary>The shared path of PUT and PATCH: names, body, preconditions, then one write.</summary>
    private static async Task WriteBodyAsync(HttpContext context, DocumentService documents, string collection, string id, Func<JsonObject, long?, DocumentOp> operation)
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
        await WriteOneAsync(context, documents, operation(JsonNode.Parse(body.RootElement.GetRawText())!.AsObject(), ifVersion));
    }

    private static async Task DeleteDocumentAsync(HttpContext context, string collection, string id, [FromServices] DocumentService documents)
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
        await WriteOneAsync(context, documents, new DeleteOp(collection, id) { IfVersion = ifVersion });
    }

    private static async Task WriteOneAsync(HttpContext context, DocumentService documents, DocumentOp op)
    {
        if (!TryIdempotencyKey(context, null, null, out var clientId, out var mid, out var refusal))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, refusal!);
            return;
        }
        var result = await documents.WriteAsync(CallerOf(context), op, clientId, mid, context.RequestAborted);
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
            JsonBodies.WriteDocumentWrittenFields(w, r.Results[0].Collection, r.Results[0].Id, r.Results[0].Version, r.Seq, r.Duplicate));
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

    private static async Task ListDocumentsAsync(HttpContext context, string collection, [FromServices] DocumentService documents)
    {
        if (!Names.IsValidCollection(collection))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, $"'{collection}' is not a valid collection name.");
            return;
        }
        var query = context.Request.Query;
        if (!documents.TryParseFilter(query["filter"].ToString(), out var filter, out var refusal))
        {
            await Problems.Write(context, refusal!);
            return;
        }
        var limit = 100;
        if (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 1000))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, "'limit' must be an integer from 1 to 1000.");
            return;
        }
        var outcome = await documents.ListAsync(CallerOf(context), collection, filter, limit, query["after"].ToString(), context.RequestAborted);
        if (outcome.IsRefused(out refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, outcome.Value, static (w, page) =>
            JsonBodies.WriteListingFields(w, page.Documents.Select(Frames.Listed), page.Next, page.Head));
    }

    private static async Task PostMutationAsync(HttpContext context, [FromServices] MutationService mutations)
    {
        using var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        if (!MutationBodies.TryReadRequest(body.RootElement, out var request, out var invalid))
        {
            await Problems.Write(context, invalid.Code, invalid.Message);
            return;
        }
        if (!TryIdempotencyKey(context, request.ClientId, request.Mid, out var clientId, out var mid, out var refusal))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, refusal!);
            return;
        }
        var caller = CallerOf(context);
        var result = request.Name is { } name
            ? await mutations.CallAsync(caller, name, request.Args.ValueKind == JsonValueKind.Undefined ? default : request.Args.Clone(), clientId, mid, context.RequestAborted)
            : await mutations.ApplyAsync(caller, request.Ops, clientId, mid, context.RequestAborted);
        if (!result.Succeeded)
        {
            await Problems.Write(context, result);
            return;
        }
        await WriteJsonAsync(context, result, static (w, res) => JsonBodies.WriteAckFields(w, Frames.Ack(null, res)));
    }
}
