using System.Globalization;
using System.Security.Claims;

namespace Lockstep.Server;

/// <summary>Who sent a request, as the access rules see it: anonymous, a user (JWT) or a service (API key).</summary>
internal sealed class Caller
{
    private Caller(CallerKind kind, string? id, IReadOnlySet<string> roles, IReadOnlySet<string> scopes, DateTimeOffset? expires, ClaimsPrincipal? principal)
    {
        Kind = kind;
        Id = id;
        Roles = roles;
        Scopes = scopes;
        Expires = expires;
        Principal = principal;
    }

    /// <summary>A connection or request without credentials (served only when anonymous access is allowed).</summary>
    public static Caller Anonymous { get; } = new(CallerKind.Anonymous, null, new HashSet<string>(), new HashSet<string>(), null, null);

    public CallerKind Kind { get; }

    /// <summary>The user's id (its <c>sub</c>), or <c>key:NAME</c> for a service; null when anonymous.</summary>
    public string? Id { get; }

    public IReadOnlySet<string> Roles { get; }

    /// <summary>An API key's scopes.</summary>
    public IReadOnlySet<string> Scopes { get; }

    /// <summary>When the credentials stop being valid (a JWT's expiry plus the clock skew); null when they do not expire.</summary>
    public DateTimeOffset? Expires { get; }

    public ClaimsPrincipal? Principal { get; }

    public static Caller Service(string name, IEnumerable<string> scopes, ClaimsPrincipal principal) =>
        new(CallerKind.Service, "key:" + name, new HashSet<string>(), new HashSet<string>(scopes, StringComparer.Ordinal), null, principal);

    /// <summary>A user from a validated JWT's claims.</summary>
    public static Caller? User(ClaimsPrincipal principal, JwtOptions options)
    {
        var id = principal.FindFirst(options.UserIdClaim)?.Value;
        if (string.IsNullOrEmpty(id))
        {
            return null;
        }
        var roles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var claim in principal.FindAll(options.RoleClaim))
        {
            roles.Add(claim.Value);
        }
        DateTimeOffset? expires = null;
        if (principal.FindFirst("exp")?.Value is { } exp && long.TryParse(exp, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds))
        {
            expires = DateTimeOffset.FromUnixTimeSeconds(seconds) + options.ClockSkew;
        }
        return new(CallerKind.User, id, roles, new HashSet<string>(), expires, principal);
    }

    public bool IsExpired(DateTimeOffset now) => Expires is { } expires && now >= expires;

    /// <summary>
    /// The client id as the server keeps it: an authenticated caller's client ids are its own, so one
    /// user cannot replay another's mutation numbers or use up its connection slots.
    /// </summary>
    public string ScopeClientId(string clientId) => Id is null ? clientId : Id + "|" + clientId;
}
