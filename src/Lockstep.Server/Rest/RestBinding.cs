using System.Globalization;
using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Lockstep.Server.Rest;

/// <summary>
/// What every REST area binds a request with: the engine and the caller admission found, names checked, a JSON
/// body read through the one JSON door within the size limit, a feed's paging parameters, and a JSON answer.
/// </summary>
internal static class RestBinding
{
    internal static LockstepEngine Engine(HttpContext context) => context.RequestServices.GetRequiredService<LockstepEngine>();

    /// <summary>The caller <see cref="RequestAdmission.AuthenticateAsync"/> found for this request.</summary>
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
        var max = Engine(context).Options.MaxFrameBytes;
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

    internal static JsonElement? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
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
        wait = TimeSpan.FromSeconds(Math.Min(seconds, Engine(context).Options.MaxLongPollWait.TotalSeconds));
        return true;
    }
}
