using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Lockstep.Server.Tests;

/// <summary>Credentials for the auth tests: API keys, and JWTs signed with HS256, RS256 and ES256 keys.</summary>
internal static class AuthFixture
{
    public const string Issuer = "https://id.test";
    public const string Audience = "lockstep-tests";
    public static readonly string Secret = "base64:" + Convert.ToBase64String(Encoding.UTF8.GetBytes("a test secret that is long enough for HS256!"));

    public static readonly string AdminKey = ApiKeys.Generate();
    public static readonly string ReaderKey = ApiKeys.Generate();
    public static readonly string OrdersKey = ApiKeys.Generate();

    public static readonly RSA Rsa = RSA.Create(2048);
    public static readonly ECDsa Ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private static readonly SigningCredentials Hmac = new(
        new SymmetricSecurityKey(Encoding.UTF8.GetBytes("a test secret that is long enough for HS256!")), SecurityAlgorithms.HmacSha256);

    /// <summary>Auth on: three API keys (the orders service's may use consumer group "billing"), JWT with the HMAC secret, an RSA public key file and a JWKS file holding the EC key; no anonymous access.</summary>
    public static void Configure(LockstepOptions o, string dir)
    {
        o.Auth.ApiKeys.Add(Key("admin", AdminKey, "*"));
        o.Auth.ApiKeys.Add(Key("reporting", ReaderKey, "read"));
        o.Auth.ApiKeys.Add(Key("orders-service", OrdersKey, "read:orders", "write:orders", "groups:billing"));
        o.Auth.Jwt.Issuer = Issuer;
        o.Auth.Jwt.Audience = Audience;
        o.Auth.Jwt.HmacSecret = Secret;
        o.Auth.Jwt.ClockSkew = TimeSpan.Zero;
        var pem = Path.Combine(dir, "rsa.pem");
        File.WriteAllText(pem, Rsa.ExportSubjectPublicKeyInfoPem());
        o.Auth.Jwt.PublicKeyFiles.Add(pem);
        var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(ECDsa.Create(Ec.ExportParameters(false))) { KeyId = "ec-1" });
        var jwks = Path.Combine(dir, "jwks.json");
        File.WriteAllText(jwks, $$"""{"keys":[{"kty":"EC","crv":"{{jwk.Crv}}","x":"{{jwk.X}}","y":"{{jwk.Y}}","kid":"ec-1","use":"sig","alg":"ES256"}]}""");
        o.Auth.Jwt.JwksFile = jwks;
    }

    public static ApiKeyOptions Key(string name, string key, params string[] scopes)
    {
        var options = new ApiKeyOptions { Name = name, Hash = ApiKeys.Hash(key) };
        options.Scopes.AddRange(scopes);
        return options;
    }

    public static string Jwt(string sub, string[]? roles = null, TimeSpan? life = null, string issuer = Issuer, string audience = Audience,
        SigningCredentials? signing = null, DateTime? notBefore = null)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (roles is not null)
        {
            claims["role"] = roles;
        }
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = claims,
            NotBefore = notBefore ?? now.AddMinutes(-10),
            IssuedAt = notBefore ?? now.AddMinutes(-10),
            Expires = now + (life ?? TimeSpan.FromMinutes(10)),
            SigningCredentials = signing ?? Hmac,
        });
    }

    public static SigningCredentials RsaSigning => new(new RsaSecurityKey(Rsa), SecurityAlgorithms.RsaSha256);

    public static SigningCredentials EcSigning => new(new ECDsaSecurityKey(Ec) { KeyId = "ec-1" }, SecurityAlgorithms.EcdsaSha256);

    public static SigningCredentials OtherHmac => new(new SymmetricSecurityKey(Encoding.UTF8.GetBytes("another secret, also long enough for HS256")), SecurityAlgorithms.HmacSha256);

    public static HttpRequestMessage Request(HttpMethod method, string path, string? token, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (body is not null)
        {
            request.Content = System.Net.Http.Json.JsonContent.Create(body);
        }
        return request;
    }
}
