using System.Net;
using Lockstep.Protocol;
using Lockstep.Server.Rest;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Lockstep.Server;

/// <summary>
/// What keeps a web page on another site from driving the server through a user's browser — one check
/// shared by REST and the sync socket's upgrade (docs/security.md, "Browsers"):
/// <list type="bullet">
/// <item>Without credentials configured the server serves anyone who reaches it; on a loopback connection
/// that must be a page of this machine, so the <c>Host</c> must be a loopback name (DNS rebinding gives a
/// page of another site a loopback address under its own name).</item>
/// <item>A request that changes something, and the socket's upgrade, must come from no browser page, the
/// server's own, or one of <see cref="LockstepOptions.AllowedOrigins"/>.</item>
/// <item>A request body is JSON, and says so in its <c>Content-Type</c>: the content types a page may
/// send to another site without asking first (a CORS preflight) are not JSON.</item>
/// </list>
/// </summary>
internal static class CrossSiteGuard
{
    /// <summary>The REST filter: the checks above, before authentication; the socket's upgrade is judged in its handler.</summary>
    public static async ValueTask<object?> FilterAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        if (context.WebSockets.IsWebSocketRequest)
        {
            return await next(invocation);
        }
        var request = context.Request;
        var options = LockstepOptionsOf(context);
        if (!await AdmitAsync(context, options, changes: !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !HttpMethods.IsOptions(request.Method)))
        {
            return Results.Empty;
        }
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true } && !IsJson(request.ContentType))
        {
            await Problems.Write(context, ErrorCodes.UnsupportedMediaType,
                "Request bodies are JSON: send Content-Type: application/json (for PATCH also application/merge-patch+json), in UTF-8.");
            return Results.Empty;
        }
        return await next(invocation);
    }

    /// <summary>
    /// The <c>Host</c> and <c>Origin</c> checks; on refusal writes the problem and returns false.
    /// <paramref name="changes"/>: the request changes something (or opens the socket), so its Origin is judged.
    /// </summary>
    public static async Task<bool> AdmitAsync(HttpContext context, LockstepOptions options, bool changes)
    {
        if (!HostAllowed(context, options))
        {
            await Problems.Write(context, ErrorCodes.HostNotAllowed,
                $"This server has no credentials configured and serves only this machine: on a loopback connection the Host must be localhost or a loopback address, not '{context.Request.Host}'.");
            return false;
        }
        if (changes && !OriginAllowed(context, options))
        {
            await Problems.Write(context, ErrorCodes.Forbidden,
                $"Pages of the origin '{context.Request.Headers.Origin}' may not change anything here or open the sync socket (LockstepOptions.AllowedOrigins).");
            return false;
        }
        return true;
    }

    /// <summary>
    /// No Origin (not a browser), an Origin of the same host and port as the request, or one listed in
    /// <see cref="LockstepOptions.AllowedOrigins"/> (<c>*</c> allows any).
    /// </summary>
    public static bool OriginAllowed(HttpContext context, LockstepOptions options)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }
        if (options.AllowedOrigins.Contains("*") || options.AllowedOrigins.Contains(origin.TrimEnd('/')))
        {
            return true;
        }
        return Uri.TryCreate(origin, UriKind.Absolute, out var url)
            && string.Equals(url.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// With credentials configured, or on a connection that did not arrive at a loopback address, any Host.
    /// Otherwise (open to anyone, reached from this machine) only <c>localhost</c>, <c>*.localhost</c>, a
    /// loopback address, or none (not a browser), with any port.
    /// </summary>
    public static bool HostAllowed(HttpContext context, LockstepOptions options)
    {
        if (options.Auth.HasCredentials || context.Connection.LocalIpAddress is not { } local || !IsLoopback(local))
        {
            return true;
        }
        var host = context.Request.Host;
        if (!host.HasValue)
        {
            return true;
        }
        var name = host.Host;
        if (string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return IPAddress.TryParse(name.Trim('[', ']'), out var address) && IsLoopback(address);
    }

    private static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary><c>application/json</c> or any <c>application/…+json</c>, in UTF-8 if a charset is given.</summary>
    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type)
        && type.Type.Equals("application", StringComparison.OrdinalIgnoreCase)
        && (type.SubType.Equals("json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase))
        && (!type.Charset.HasValue || type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    private static LockstepOptions LockstepOptionsOf(HttpContext context) => context.RequestServices.GetRequiredService<IOptions<LockstepOptions>>().Value;
}
