using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Lockstep.Server;

/// <summary>
/// Lockstep's authentication schemes in ASP.NET Core's stack: API keys (<see cref="ApiKeyScheme"/>), JWT
/// bearer tokens (<see cref="JwtScheme"/>, the JwtBearer handler) and a policy scheme
/// (<see cref="Scheme"/>) that picks one by the token's shape. <see cref="CallerAuthenticator"/> turns what
/// they validate into a <see cref="Caller"/>, for REST requests and a sync connection's <c>hello</c> token alike.
/// </summary>
internal static class LockstepAuthentication
{
    public const string Scheme = "Lockstep";
    public const string ApiKeyScheme = "Lockstep.ApiKey";
    public const string JwtScheme = "Lockstep.Jwt";

    public static void Register(IServiceCollection services)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, null)
            .AddJwtBearer(JwtScheme, _ => { })
            .AddPolicyScheme(Scheme, null, o => o.ForwardDefaultSelector = context =>
                BearerToken(context.Request.Headers.Authorization.ToString()) is { } token && token.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal)
                    ? ApiKeyScheme
                    : JwtScheme);
        services.AddOptions<JwtBearerOptions>(JwtScheme).Configure<IOptions<LockstepOptions>>((jwt, lockstep) => Configure(jwt, lockstep.Value.Auth.Jwt));
    }

    /// <summary>The token of an <c>Authorization: Bearer …</c> header, or null.</summary>
    public static string? BearerToken(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;

    private static void Configure(JwtBearerOptions jwt, JwtOptions options)
    {
        // Claims keep their JWT names ("sub", "role"), not the long WS-Federation URIs.
        jwt.MapInboundClaims = false;
        jwt.RequireHttpsMetadata = false;
        var keys = new List<SecurityKey>();
        if (!string.IsNullOrEmpty(options.HmacSecret))
        {
            var secret = options.HmacSecret.StartsWith("base64:", StringComparison.Ordinal)
                ? Convert.FromBase64String(options.HmacSecret[7..])
                : Encoding.UTF8.GetBytes(options.HmacSecret);
            if (secret.Length < 32)
            {
                throw new FormatException("Lockstep:Auth:Jwt:HmacSecret must be at least 32 bytes.");
            }
            keys.Add(new SymmetricSecurityKey(secret));
        }
        foreach (var file in options.PublicKeyFiles)
        {
            keys.Add(ReadPublicKey(file));
        }
        if (!string.IsNullOrEmpty(options.JwksFile))
        {
            keys.AddRange(new JsonWebKeySet(File.ReadAllText(options.JwksFile)).GetSigningKeys());
        }
        if (options.IsConfigured && (string.IsNullOrEmpty(options.Issuer) || string.IsNullOrEmpty(options.Audience)))
        {
            throw new FormatException("Lockstep:Auth:Jwt needs an Issuer and an Audience to check.");
        }
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = options.Issuer,
            ValidAudience = options.Audience,
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            IssuerSigningKeys = keys,
            // Only these: a token naming another algorithm (or "none") is refused whatever its key.
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256],
            ClockSkew = options.ClockSkew,
            NameClaimType = options.UserIdClaim,
            RoleClaimType = options.RoleClaim,
        };
    }

    private static SecurityKey ReadPublicKey(string file)
    {
        var pem = File.ReadAllText(file);
        if (TryImportEc(pem) is { } ec)
        {
            return new ECDsaSecurityKey(ec);
        }
        var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        return new RsaSecurityKey(rsa);
    }

    private static ECDsa? TryImportEc(string pem)
    {
        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return ec;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            ec.Dispose();
            return null;
        }
    }
}
