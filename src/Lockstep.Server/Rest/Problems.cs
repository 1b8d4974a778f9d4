using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Http;

namespace Lockstep.Server.Rest;

/// <summary>Writes RFC 9457 problem+json answers carrying Lockstep's stable error codes.</summary>
internal static class Problems
{
    // Problems echo what the caller sent (names, origins, hosts). Serialized with an encoder that
    // escapes HTML's characters (<, >, &, ', ", +, `) as \uXXXX, no byte of such input is markup,
    // whatever a browser might take the body for (X-Content-Type-Options: nosniff is sent as well).
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    public static Task Write(HttpContext context, ErrorCode code, string detail, int? status = null) =>
        Write(context, new Rejection(code, detail), status);

    public static Task Write(HttpContext context, Rejection rejection, int? status = null) => Write(context, rejection, status, refused: null);

    /// <summary>Writes a refused write's problem; a replayed refusal carries <c>"dup": true</c> as its ack would.</summary>
    public static Task Write(HttpContext context, WriteResult refused, int? status = null) => Write(context, refused.Rejection!, status, refused);

    private static async Task Write(HttpContext context, Rejection rejection, int? status, WriteResult? refused)
    {
        var response = context.Response;
        response.StatusCode = status ?? rejection.Error.HttpStatus;
        response.ContentType = "application/problem+json";
        if (rejection.Current is { Deleted: false } current)
        {
            response.Headers.ETag = Etag(current.Version);
        }
        await using var writer = new Utf8JsonWriter(response.Body, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type", "urn:lockstep:error:" + rejection.Error.Code);
        writer.WriteString("title", rejection.Error.Title);
        writer.WriteNumber("status", response.StatusCode);
        writer.WriteString("detail", rejection.Message);
        writer.WriteString("instance", context.Request.Path);
        writer.WriteString("code", rejection.Error.Code);
        writer.WriteBoolean("transient", rejection.Error.IsTransient);
        JsonBodies.WriteErrorDetails(writer, Frames.Error(null, rejection, refused?.Duplicate ?? false));
        writer.WriteEndObject();
    }

    /// <summary>
    /// The body of an answer under <paramref name="prefix"/> that was refused without one (the status
    /// code pages middleware calls this only then): the router's 404 and 405 have codes of their own.
    /// </summary>
    public static Task WriteBodiless(HttpContext context, string prefix)
    {
        if (!context.Request.Path.StartsWithSegments(prefix, StringComparison.Ordinal) && !context.Request.Path.StartsWithSegments("/healthz", StringComparison.Ordinal))
        {
            return Task.CompletedTask;
        }
        var status = context.Response.StatusCode;
        var (code, detail) = status switch
        {
            404 => (ErrorCodes.UnknownEndpoint, $"No endpoint at {context.Request.Path} (protocol.md lists them)."),
            405 => (ErrorCodes.MethodNotAllowed, $"{context.Request.Method} is not allowed on {context.Request.Path}; the Allow header lists the methods that are."),
            413 => (ErrorCodes.BodyTooLarge, "The request body is too large."),
            415 => (ErrorCodes.UnsupportedMediaType, "Request bodies are JSON (Content-Type: application/json)."),
            >= 500 => (ErrorCodes.InternalError, "The server could not answer this request; it has been logged."),
            _ => (ErrorCodes.InvalidRequest, "The request was refused."),
        };
        return Write(context, new Rejection(code, detail), status);
    }

    public static string Etag(long version) => "\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"";
}
