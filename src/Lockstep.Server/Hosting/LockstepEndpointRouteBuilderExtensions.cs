using Lockstep.Protocol;
using Lockstep.Server;
using Lockstep.Server.Rest;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps Lockstep's endpoints: the WebSocket at <c>{prefix}/sync</c>, REST under <c>{prefix}</c>, and <c>/healthz</c>.</summary>
public static class LockstepEndpointRouteBuilderExtensions
{
    /// <summary>Maps the endpoints. Requires <c>services.AddLockstep()</c>.</summary>
    /// <param name="endpoints">The app.</param>
    /// <param name="prefix">The route prefix; <c>/v1</c> by default.</param>
    public static IEndpointConventionBuilder MapLockstep(this IEndpointRouteBuilder endpoints, string prefix = "/v1")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (endpoints.ServiceProvider.GetService<LockstepMarker>() is null)
        {
            throw new InvalidOperationException("Lockstep's services are missing: call builder.Services.AddLockstep() first.");
        }
        if (endpoints is IApplicationBuilder app)
        {
            // WebSocket upgrades need the middleware; endpoints run after it in WebApplication's pipeline.
            // The frame clock goes under the WebSocket: it must see the stream before the middleware builds on it.
            app.Use(ClockedUpgrade.InstallAsync);
            app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
            // Browsers must take every answer for what its Content-Type says (never sniff a problem that
            // echoes a caller's input into HTML), and every refusal under the prefix has a problem body,
            // the router's own 404 and 405 included.
            app.Use((context, next) =>
            {
                context.Response.Headers.XContentTypeOptions = "nosniff";
                return next(context);
            });
            app.UseStatusCodePages(context => Problems.WriteBodiless(context.HttpContext, prefix));
        }

        var group = endpoints.MapGroup(prefix);
        group.Map("/sync", HandleSyncAsync);
        // Before authentication: a request a page of another site made is refused whoever's browser sent it.
        group.AddEndpointFilter(CrossSiteGuard.FilterAsync);
        DocumentEndpoints.Map(group);
        JobEndpoints.Map(group);
        endpoints.MapGet("/healthz", (LockstepEngine engine) =>
            engine.Started.IsCompletedSuccessfully
                ? Results.Json(new HealthReport("ok", engine.Head, engine.Horizon), RestJsonContext.Default.HealthReport)
                : Results.Json(new HealthReport("starting", 0, 0), RestJsonContext.Default.HealthReport, statusCode: 503));
        return group;
    }

    private static async Task HandleSyncAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Problems.Write(context, Lockstep.Protocol.ErrorCodes.InvalidRequest, "This endpoint speaks the Lockstep protocol over WebSocket (docs/protocol.md).", 426);
            return;
        }
        var services = context.RequestServices.GetRequiredService<SessionServices>();
        // Cross-site WebSocket hijacking and DNS rebinding: a page elsewhere must not ride on the user's browser.
        if (!await CrossSiteGuard.AdmitAsync(context, services.Options, changes: true))
        {
            return;
        }
        // The encoding: the first subprotocol offered that this server speaks; none offered is JSON (docs/protocol.md §11).
        var codec = FrameCodecs.Json;
        string? subProtocol = null;
        if (context.WebSockets.WebSocketRequestedProtocols is { Count: > 0 } offered)
        {
            var chosen = offered.Select(FrameCodecs.ForSubProtocol).FirstOrDefault(c => c is not null);
            if (chosen is null)
            {
                await Problems.Write(context, Lockstep.Protocol.ErrorCodes.UnsupportedProtocol,
                    $"This server speaks the subprotocols {string.Join(" and ", FrameCodecs.SubProtocols)}; the upgrade offered only {string.Join(", ", offered)}.", 400);
                return;
            }
            codec = chosen;
            subProtocol = chosen.SubProtocol;
        }
        Caller? caller = null;
        if (context.Request.Headers.Authorization.Count > 0)
        {
            // Clients that can set headers may authenticate the upgrade itself; browsers send the token in hello.
            (caller, var refusal) = await services.Authenticator.AuthenticateAsync(context);
            if (caller is null)
            {
                await Problems.Write(context, Lockstep.Protocol.ErrorCodes.Unauthorized, refusal!, 401);
                return;
            }
        }
        await services.Lifetime.Started;
        // Counted as pending until its hello succeeds; only then does it take a session's place.
        using var slot = services.Admission.TryAdmit(context.Connection.RemoteIpAddress, out var full);
        if (slot is null)
        {
            // The refused client should not keep holding a descriptor on a full server.
            context.Response.Headers.Connection = "close";
            await Problems.Write(context, Lockstep.Protocol.ErrorCodes.Overloaded, full!, 503);
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            DangerousEnableCompression = services.Options.EnableCompression,
            SubProtocol = subProtocol,
        });
        var session = new SyncSession(socket, services, caller, context.Connection.RemoteIpAddress, context.Features.Get<InboundFrameClock>(), codec, context.RequestAborted) { Slot = slot };
        await session.RunAsync();
    }
}
