using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Http;

namespace Lockstep.Server.Rest;

/// <summary>Writes RFC 9457 problem+json answers carrying Lockstep's stable error codes.</summary>
internal static class Problems
{
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
        await using var writer = new Utf8JsonWriter(response.Body, LockstepJson.WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type", "urn:lockstep:error:" + rejection.Error.Code);
        writer.WriteString("title", rejection.Error.Title);
        writer.WriteNumber("status", response.StatusCode);
        writer.WriteString("detail", rejection.Message);
        writer.WriteString("instance", context.Request.Path);
        writer.WriteString("code", rejection.Error.Code);
        writer.WriteBoolean("transient", rejection.Error.IsTransient);
        Frames.WriteRejectionDetails(writer, rejection);
        refused?.WriteDuplicate(writer);
        writer.WriteEndObject();
    }

    public static string Etag(long version) => "\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"";
}
