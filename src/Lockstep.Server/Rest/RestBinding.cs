using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Lockstep.Server.Rest;

/// <summary>
/// What every REST area binds a request with: the caller admission found, names checked, a JSON body read
/// through the one JSON door within the size limit, a write's idempotency key, a feed's paging parameters, and a
/// JSON answer. The endpoints call application services (injected into their handlers) with what it binds.
/// </summary>
internal static class RestBinding
{
    /// <summary>The limits a request is bound within (body size, long-poll wait).</summary>
    private static LockstepOptions Limits(HttpContext context) => context.RequestServices.GetRequiredService<IOptions<LockstepOptions>>().Value;

    /// <summary>The caller <see cref="RequestAdmission.Authenticate"/> found for this request.</summary>
    internal static Caller CallerOf(HttpContext context) => (Caller)context.Items[typeof(Caller)]!;

    internal static bool CheckNames(HttpContext context, string collection, string id, out Task problem)
    {
        problem = Task.CompletedTask;
        if (!Names.IsValidCollection(collection))
        {
            problem = Problems.Write(context, ErrorCodes.InvalidRequest, $"'{collection}' is not a valid collection name.");
            return false;
        }
        if (!Names.IsValidId(id))
        {
            problem = Problems.Write(context, ErrorCodes.InvalidRequest, "The document id is not valid.");
            return false;
        }
        return true;
    }

    /// <summary>Reads a JSON object body within the size limit; on failure writes the problem and returns null.</summary>
    internal static async Task<JsonDocument?> ReadObjectAsync(HttpContext context)
    {
        var max = Limits(context).MaxFrameBytes;
        if (context.Request.ContentLength > max)
        {
            await Problems.Write(context, ErrorCodes.BodyTooLarge, $"Request bodies are limited to {max} bytes.");
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > max)
            {
                await Problems.Write(context, ErrorCodes.BodyTooLarge, $"Request bodies are limited to {max} bytes.");
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        if (!JsonText.TryParse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), out var doc, out var error))
        {
            // A number beyond a double is a document's defect; not JSON, invalid UTF-8 or a lone surrogate, the request's.
            await Problems.Write(context, error.Defect == JsonDefect.Number ? ErrorCodes.InvalidDocument : ErrorCodes.InvalidRequest,
                error.Defect == JsonDefect.Syntax ? $"The body is not valid JSON: {error.Message}" : error.Message);
            return null;
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            await Problems.Write(context, ErrorCodes.InvalidDocument, "The body must be a JSON object.");
            return null;
        }
        return doc;
    }

    internal static async Task WriteJsonAsync<TState>(HttpContext context, TState state, Action<Utf8JsonWriter, TState> fill)
    {
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body, LockstepJson.WriterOptions);
        writer.WriteStartObject();
        fill(writer, state);
        writer.WriteEndObject();
    }

    /// <summary>
    /// The idempotency key of a REST write: the <c>Lockstep-Client-Id</c> and <c>Lockstep-Mutation-Id</c>
    /// headers, or the body's <c>clientId</c> and <c>mid</c> (<c>POST /v1/mutations</c>; where both are
    /// given they must agree). A mutation number without a client id is refused rather than ignored: it
    /// could not be recorded, and a retry would apply twice. The client id is the client's own (services scope it).
    /// </summary>
    internal static bool TryIdempotencyKey(HttpContext context, string? clientId, long? mid, out string? keyClientId, out long? keyMid, out string? refusal)
    {
        keyClientId = null;
        keyMid = null;
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
        keyClientId = clientId;
        keyMid = mid;
        return true;
    }

    /// <summary>The <c>limit</c> (1 to 10,000) and <c>wait</c> (seconds, capped at MaxLongPollWait) of a feed request; false with the problem to write.</summary>
    internal static bool TryFeedParameters(HttpContext context, int defaultLimit, out int limit, out TimeSpan wait, out Task problem)
    {
        var query = context.Request.Query;
        wait = TimeSpan.Zero;
        problem = Task.CompletedTask;
        limit = defaultLimit;
        if (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 10_000))
        {
            problem = Problems.Write(context, ErrorCodes.InvalidRequest, "'limit' must be an integer from 1 to 10000.");
            return false;
        }
        double seconds = 0;
        if (query.ContainsKey("wait") && (!double.TryParse(query["wait"], NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || seconds < 0 || double.IsNaN(seconds)))
        {
            problem = Problems.Write(context, ErrorCodes.InvalidRequest, "'wait' must be a number of seconds.");
            return false;
        }
        wait = TimeSpan.FromSeconds(Math.Min(seconds, Limits(context).MaxLongPollWait.TotalSeconds));
        return true;
    }
}
