using System.Globalization;
using System.Security.Claims;

namespace Lockstep.Server;

/// <summary>Who sent a request, as the access rules see it: anonymous, a user (JWT) or a service (API key).</summary>
internal sealed class Caller
{
    /// <summary>What the user ids of JWTs may not start with: it names API keys (<see cref="Id"/>).</summary>
    public const string ServicePrefix = "key:";

    /// <summary>The start of every client key of this caller (<see cref="ScopeClientId"/>).</summary>
    private readonly string _clientKeyPrefix;

    private Caller(CallerKind kind, string? id, IReadOnlySet<string> roles, IReadOnlySet<string> scopes, DateTimeOffset? expires, ClaimsPrincipal? principal)
    {
        Kind = kind;
        Id = id;
        Roles = roles;
        Scopes = scopes;
        Expires = expires;
        Principal = principal;
        _clientKeyPrefix = kind switch
        {
            // The principal's length, not a separator, says where it ends: no user id or key name, whatever
            // characters it holds, can spell out another caller's prefix (docs/dev/storage-format.md).
            CallerKind.User => string.Create(CultureInfo.InvariantCulture, $"u{id!.Length}:{id}|"),
            CallerKind.Service => string.Create(CultureInfo.InvariantCulture, $"k{id!.Length - ServicePrefix.Length}:{id[ServicePrefix.Length..]}|"),
            _ => "a|",
        };
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
        new(CallerKind.Service, ServicePrefix + name, new HashSet<string>(), new HashSet<string>(scopes, StringComparer.Ordinal), null, principal);

    /// <summary>A user from a validated JWT's claims; null without a user id, or with one that names an API key.</summary>
    public static Caller? User(ClaimsPrincipal principal, JwtOptions options)
    {
        var id = principal.FindFirst(options.UserIdClaim)?.Value;
        // "key:NAME" is how mutators (MutatorContext.UserId) and owner fields tell a service: no token may pass for one.
        if (string.IsNullOrEmpty(id) || id.StartsWith(ServicePrefix, StringComparison.Ordinal))
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
    /// The client id as the server keeps it (mutation records, connection slots, rate buckets, group
    /// members, the log's <c>client_id</c>): the caller's kind and id, length-prefixed, then the client's
    /// own id — <c>u5:alice|c-1</c>, <c>k7:billing|c-1</c>, <c>a|c-1</c> for anonymous callers. A caller's
    /// client ids are its own: no client id it sends can equal another caller's key.
    /// </summary>
    public string ScopeClientId(string clientId) => _clientKeyPrefix + clientId;

    /// <summary>
    /// The client id in <paramref name="key"/> (a <see cref="ScopeClientId"/> key) when this caller made it,
    /// else null: a reader may learn that a change is its own, not whose another's is. Anonymous callers
    /// are one caller, so they see anonymous writers' client ids.
    /// </summary>
    public string? OwnClientId(string? key) =>
        key is not null && key.StartsWith(_clientKeyPrefix, StringComparison.Ordinal) ? key[_clientKeyPrefix.Length..] : null;
}
