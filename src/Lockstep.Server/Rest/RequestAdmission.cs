using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lockstep.Server.Rest;

/// <summary>What every REST request passes before its endpoint: authentication, then the client-id header's rule and the rate limits.</summary>
internal static class RequestAdmission
{
    /// <summary>Every REST request is authenticated first (API key or JWT in <c>Authorization: Bearer</c>); 401 when it cannot be.</summary>
    public static EndpointFilterDelegate Authenticate(EndpointFilterFactoryContext factory, EndpointFilterDelegate next)
    {
        var authenticator = factory.ApplicationServices.GetRequiredService<CallerAuthenticator>();
        return async invocation =>
        {
            var context = invocation.HttpContext;
            if (context.WebSockets.IsWebSocketRequest)
            {
                return await next(invocation); // the sync socket authenticates at hello (or its upgrade's header)
            }
            var (caller, refusal) = await authenticator.AuthenticateAsync(context);
            if (caller is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Problems.Write(context, ErrorCodes.Unauthorized, refusal!);
                return Results.Empty;
            }
            context.Items[typeof(Caller)] = caller;
            return await next(invocation);
        };
    }

    /// <summary>
    /// Per-client rate limits over REST: the bucket of the <c>Lockstep-Client-Id</c> header, else of the
    /// remote address; an anonymous caller draws from its address's bucket as well. Listings and the
    /// change feed are bulk; everything else is interactive. A <c>Lockstep-Client-Id</c> that is not a
    /// valid client id (the rule of hello's <c>clientId</c>) is refused here, on every endpoint.
    /// </summary>
    public static EndpointFilterDelegate RateLimit(EndpointFilterFactoryContext factory, EndpointFilterDelegate next)
    {
        var limiter = factory.ApplicationServices.GetRequiredService<ClientRateLimiter>();
        var options = factory.ApplicationServices.GetRequiredService<IOptions<LockstepOptions>>().Value;
        return invocation => RateLimitAsync(invocation, next, limiter, options);
    }

    private static async ValueTask<object?> RateLimitAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next, ClientRateLimiter limiter, LockstepOptions options)
    {
        var context = invocation.HttpContext;
        if (context.WebSockets.IsWebSocketRequest)
        {
            return await next(invocation); // the socket counts each request against its own buckets
        }
        var headers = context.Request.Headers;
        var client = headers["Lockstep-Client-Id"].ToString();
        if (headers.ContainsKey("Lockstep-Client-Id") && !Names.IsValidClientId(client))
        {
            await Problems.Write(context, ErrorCodes.InvalidRequest, RequestReader.InvalidClientIdMessage("Lockstep-Client-Id"));
            return Results.Empty;
        }
        var caller = RestBinding.CallerOf(context);
        var key = client.Length > 0 ? "client:" + caller.ScopeClientId(client) : "ip:" + context.Connection.RemoteIpAddress;
        var path = context.Request.Path.Value ?? "";
        var bulk = HttpMethods.IsGet(context.Request.Method)
            && (path.EndsWith("/docs", StringComparison.Ordinal) || path.EndsWith("/changes", StringComparison.Ordinal));
        if (!limiter.TryAcquire(key, ClientRateLimiter.AddressBucket(caller, options.Auth, context.Connection.RemoteIpAddress), bulk))
        {
            context.Response.Headers.RetryAfter = "1";
            await Problems.Write(context, ErrorCodes.RateLimited,
                $"Over {options.RateLimitPerSecond} requests per second for this client; retry shortly (listings and the change feed wait while interactive requests use the reserve).");
            return Results.Empty;
        }
        return await next(invocation);
    }
}
