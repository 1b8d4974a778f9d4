namespace Lockstep.Server;

/// <summary>
/// How end users' JWT bearer tokens are validated (through ASP.NET Core's JwtBearer handler):
/// signature (HS256 with a shared secret, RS256/ES256 with public keys or a JWKS file), issuer,
/// audience, expiry and not-before, with a clock skew.
/// </summary>
public sealed class JwtOptions
{
    /// <summary>The required <c>iss</c> claim.</summary>
    public string? Issuer { get; set; }

    /// <summary>The required <c>aud</c> claim.</summary>
    public string? Audience { get; set; }

    /// <summary>The HS256 shared secret, at least 32 bytes: <c>base64:</c> and the bytes in base64, or text used as UTF-8.</summary>
    public string? HmacSecret { get; set; }

    /// <summary>PEM files holding RSA (RS256) or EC P-256 (ES256) public keys.</summary>
    public List<string> PublicKeyFiles { get; } = [];

    /// <summary>A JSON Web Key Set file (RSA and EC keys); its <c>kid</c>s select the key.</summary>
    public string? JwksFile { get; set; }

    /// <summary>How far the clocks of the issuer and this server may disagree when checking expiry.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The claim holding the user's id (matched by <c>owner:</c> rules).</summary>
    /// <value><c>sub</c>.</value>
    public string UserIdClaim { get; set; } = "sub";

    /// <summary>The claim holding the user's roles (one string, or an array).</summary>
    /// <value><c>role</c>.</value>
    public string RoleClaim { get; set; } = "role";

    /// <summary>True when a signing key is configured.</summary>
    public bool IsConfigured => !string.IsNullOrEmpty(HmacSecret) || PublicKeyFiles.Count > 0 || !string.IsNullOrEmpty(JwksFile);
}
