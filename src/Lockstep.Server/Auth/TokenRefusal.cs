using Microsoft.AspNetCore.Authentication;
using Microsoft.IdentityModel.Tokens;

namespace Lockstep.Server;

/// <summary>
/// Why a token was refused, in our own words. The token handlers' messages name key ids and internal
/// key hashes (an HS256 key's <c>InternalId</c> lets anyone test guesses of the secret offline), so
/// callers hear only these sentences and the handler's text goes to the server's log at Debug.
/// </summary>
internal static class TokenRefusal
{
    /// <summary>A sentence for the caller describing <paramref name="failure"/> (null: not valid, nothing more known).</summary>
    public static string Describe(Exception? failure) => failure switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenNoExpirationException => "the token has no expiry ('exp')",
        SecurityTokenInvalidLifetimeException => "the token's lifetime is not valid",
        SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException => "the token's signature is not valid",
        SecurityTokenInvalidAlgorithmException => "the token's signing algorithm is not accepted",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
        SecurityTokenMalformedException or ArgumentException => "the token is not well-formed",
        // Our own handler's (API keys) messages are ours already.
        AuthenticationFailureException { Message: var message } => message.TrimEnd('.'),
        _ => "the token is not valid",
    };
}
