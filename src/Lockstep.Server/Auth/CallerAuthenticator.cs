using System.Security.Claims;
using Lockstep.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Who a caller is: a REST request's (or a WebSocket upgrade's) <c>Authorization</c> header through ASP.NET Core's
/// handlers (<see cref="LockstepAuthentication.Scheme"/>), or a <c>hello</c> token through the same validators — the
/// API-key check and the JwtBearer handler's own token handlers and parameters. Refusals are our own words; the
/// handlers' text (key ids, hashes) is logged at Debug only.
/// </summary>
internal sealed class CallerAuthenticator
{
    private readonly AccessPolicy _access;
    private readonly JwtOptions _jwt;
    private readonly IOptionsMonitor<JwtBearerOptions> _bearer;
    private readonly ILogger _logger;

    public CallerAuthenticator(AccessPolicy access, IOptions<LockstepOptions> options, IOptionsMonitor<JwtBearerOptions> bearer, ILogger<CallerAuthenticator> logger)
    {
        _access = access;
        _jwt = options.Value.Auth.Jwt;
        _bearer = bearer;
        _logger = logger;
    }

    /// <summary>Who a REST request (or a WebSocket upgrade) comes from: its Authorization header, through the ASP.NET Core handlers.</summary>
    public async ValueTask<(Caller? Caller, string? Error)> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(LockstepAuthentication.Scheme);
        if (result.None)
        {
            return _access.AllowAnonymous ? (Caller.Anonymous, null) : (null, "Credentials are required: Authorization: Bearer <API key or JWT>.");
        }
        if (!result.Succeeded)
        {
            return (null, Refuse(result.Failure));
        }
        return FromPrincipal(result.Principal);
    }

    /// <summary>Who a <c>hello</c> token stands for: an API key, or a JWT validated by the JwtBearer handler's own token handlers and parameters.</summary>
    public async ValueTask<(Caller? Caller, string? Error)> AuthenticateTokenAsync(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return _access.AllowAnonymous ? (Caller.Anonymous, null) : (null, "This server requires a token in hello (an API key or a JWT).");
        }
        if (token.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal))
        {
            return _access.AuthenticateApiKey(token) is { } service ? (service, null) : (null, "The API key is not valid.");
        }
        var options = _bearer.Get(LockstepAuthentication.JwtScheme);
        Exception? failure = null;
        foreach (var handler in options.TokenHandlers)
        {
            var validation = await handler.ValidateTokenAsync(token, options.TokenValidationParameters);
            if (validation.IsValid)
            {
                return FromPrincipal(new ClaimsPrincipal(validation.ClaimsIdentity));
            }
            failure = validation.Exception;
        }
        return (null, Refuse(failure));
    }

    private string Refuse(Exception? failure)
    {
        if (failure is not null)
        {
            Log.TokenRefused(_logger, failure.Message);
        }
        return "The credentials were refused: " + TokenRefusal.Describe(failure) + ".";
    }

    private (Caller?, string?) FromPrincipal(ClaimsPrincipal principal)
    {
        if (principal.Identity?.AuthenticationType == ApiKeyAuthenticationHandler.AuthenticationType)
        {
            var name = principal.FindFirst(ClaimTypes.NameIdentifier)!.Value["key:".Length..];
            return (Caller.Service(name, principal.FindAll("scope").Select(c => c.Value), principal), null);
        }
        var claim = _jwt.UserIdClaim;
        return Caller.User(principal, _jwt) is { } user
            ? (user, null)
            : principal.FindFirst(claim)?.Value is { Length: > 0 }
                ? (null, $"The token's '{claim}' claim starts with '{Caller.ServicePrefix}', which names API keys, not users.")
                : (null, $"The token has no '{claim}' claim (the user's id).");
    }
}
