using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>The authentication handler of API keys: <c>Authorization: Bearer lsk_…</c>, checked against the configured hashes.</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AccessPolicy access)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string AuthenticationType = "LockstepApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = LockstepAuthentication.BearerToken(Request.Headers.Authorization.ToString());
        if (token is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var caller = access.AuthenticateApiKey(token);
        return Task.FromResult(caller is null
            ? AuthenticateResult.Fail("The API key is not valid.")
            : AuthenticateResult.Success(new AuthenticationTicket(caller.Principal!, Scheme.Name)));
    }
}
