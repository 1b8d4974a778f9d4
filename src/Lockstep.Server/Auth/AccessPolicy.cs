using System.Security.Claims;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// The access rules of a server, parsed once from <see cref="LockstepOptions"/>: API keys by hash,
/// collection rules, defaults. Decides what a <see cref="Caller"/> may read, write and call.
/// </summary>
internal sealed class AccessPolicy
{
    private static readonly AccessRule[] AuthenticatedOnly = [AccessRule.Authenticated];

    private readonly Dictionary<string, ApiKeyOptions> _keysByHash = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AccessRule[]> _read = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AccessRule[]> _write = new(StringComparer.Ordinal);
    private readonly AccessRule[] _defaultRead;
    private readonly AccessRule[] _defaultWrite;
    private readonly AccessRule[] _mutators;
    private readonly AccessRule[] _jobs;
    private readonly AccessRule[] _groups;
    private readonly AccessRule[] _admin;

    /// <exception cref="FormatException">A rule, key hash or scope is malformed.</exception>
    public AccessPolicy(LockstepOptions options)
    {
        var auth = options.Auth;
        AllowAnonymous = auth.AllowAnonymous;
        foreach (var key in auth.ApiKeys)
        {
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                throw new FormatException("Every API key needs a Name.");
            }
            var hash = key.Hash.Trim().ToLowerInvariant();
            if (!hash.StartsWith("sha256:", StringComparison.Ordinal) || hash.Length != 7 + 64 || !hash[7..].All(Uri.IsHexDigit))
            {
                throw new FormatException($"API key '{key.Name}': Hash must be 'sha256:' and 64 hex digits (lockstep apikey new makes one).");
            }
            foreach (var scope in key.Scopes)
            {
                if (!IsValidScope(scope))
                {
                    throw new FormatException($"API key '{key.Name}': '{scope}' is not a scope (read, write, read:COLLECTION, write:COLLECTION, jobs, groups, groups:GROUP, groups:PREFIX* or *).");
                }
            }
            if (!_keysByHash.TryAdd(hash, key))
            {
                throw new FormatException($"API key '{key.Name}' has the same hash as another key.");
            }
        }
        _defaultRead = ParseOr(auth.DefaultRead, AuthenticatedOnly);
        _defaultWrite = Parse(auth.DefaultWrite); // empty: closed to all but API keys
        _mutators = ParseOr(auth.Mutators, AuthenticatedOnly);
        _jobs = Parse(auth.Jobs);
        _groups = Parse(auth.Groups);
        _admin = Parse(auth.Admin);
        if (_mutators.Concat(_jobs).Concat(_groups).Concat(_admin).Any(r => r.Kind == AccessRuleKind.Owner))
        {
            throw new FormatException("owner: rules do not apply to mutators, job queues, consumer groups or administration (a mutator checks ownership itself through MutatorContext.User).");
        }
        foreach (var (name, collection) in options.Collections)
        {
            if (collection.Read.Count > 0)
            {
                _read[name] = Parse(collection.Read);
            }
            if (collection.Write.Count > 0)
            {
                _write[name] = Parse(collection.Write);
            }
        }
    }

    public bool AllowAnonymous { get; }

    /// <summary>The caller an API key stands for, or null when no configured key has its hash.</summary>
    public Caller? AuthenticateApiKey(string key)
    {
        if (!key.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal) || !_keysByHash.TryGetValue(ApiKeys.Hash(key), out var options))
        {
            return null;
        }
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, "key:" + options.Name), .. options.Scopes.Select(s => new Claim("scope", s))],
            ApiKeyAuthenticationHandler.AuthenticationType, ClaimTypes.NameIdentifier, ClaimTypes.Role);
        return Caller.Service(options.Name, options.Scopes, new ClaimsPrincipal(identity));
    }

    public Grant Read(Caller caller, string collection) =>
        SystemCollections.IsSystem(collection)
            ? caller.Kind == CallerKind.Service && (caller.Scopes.Contains("*") || caller.Scopes.Contains("read:" + collection)) ? Grant.Everything : Grant.Nothing
            : Decide(caller, collection, "read", _read.TryGetValue(collection, out var rules) ? rules : _defaultRead);

    /// <summary>What the caller may write; system collections are the server's alone.</summary>
    public Grant Write(Caller caller, string collection) =>
        SystemCollections.IsSystem(collection)
            ? Grant.Nothing
            : Decide(caller, collection, "write", _write.TryGetValue(collection, out var rules) ? rules : _defaultWrite);

    public bool CanCallMutators(Caller caller) =>
        caller.Kind == CallerKind.Service ? HasScope(caller, "write", null) : Decide(caller, "", "write", _mutators).All;

    /// <summary>Whether the caller may use the job queues: API keys with <c>jobs</c>, <c>write</c> or <c>*</c>; others by <see cref="AuthOptions.Jobs"/>.</summary>
    public bool CanUseJobs(Caller caller) =>
        caller.Kind == CallerKind.Service ? caller.Scopes.Contains("jobs") || HasScope(caller, "write", null) : Decide(caller, "", "write", _jobs).All;

    /// <summary>
    /// Whether the caller may join, claim, read, commit and leave consumer group <paramref name="group"/>: API
    /// keys with <c>groups</c>, <c>groups:GROUP</c>, a <c>groups:PREFIX*</c> it starts with, or <c>*</c>; others
    /// by <see cref="AuthOptions.Groups"/>. Reading a collection does not include it: a member moves the
    /// group's checkpoints, which decide what the group's other members ever see.
    /// </summary>
    public bool CanUseGroup(Caller caller, string group) =>
        caller.Kind == CallerKind.Service
            ? caller.Scopes.Any(s => s is "*" or "groups" || (s.StartsWith("groups:", StringComparison.Ordinal) && GroupScopeMatches(s[7..], group)))
            : Decide(caller, "", "groups", _groups).All;

    private static bool GroupScopeMatches(string pattern, string group) =>
        pattern.EndsWith('*') ? group.StartsWith(pattern[..^1], StringComparison.Ordinal) : string.Equals(pattern, group, StringComparison.Ordinal);

    /// <summary>
    /// Whether the caller may see the cluster's nodes (<c>GET /v1/cluster</c>): any API key (services and
    /// operators), others by <see cref="AuthOptions.Admin"/>. End users are given a server's URL, not its topology.
    /// </summary>
    public bool CanSeeCluster(Caller caller) => caller.Kind == CallerKind.Service || CanAdminister(caller);

    /// <summary>Whether the caller may use the administrative endpoints: API keys with <c>*</c>; others by <see cref="AuthOptions.Admin"/>.</summary>
    public bool CanAdminister(Caller caller) =>
        caller.Kind == CallerKind.Service ? caller.Scopes.Contains("*") : Decide(caller, "", "admin", _admin).All;

    private static Grant Decide(Caller caller, string collection, string verb, AccessRule[] rules)
    {
        if (caller.Kind == CallerKind.Service)
        {
            return HasScope(caller, verb, collection) ? Grant.Everything : Grant.Nothing;
        }
        List<AccessRule>? owners = null;
        foreach (var rule in rules)
        {
            switch (rule.Kind)
            {
                case AccessRuleKind.Public:
                    return Grant.Everything;
                case AccessRuleKind.Authenticated when caller.Kind == CallerKind.User:
                    return Grant.Everything;
                case AccessRuleKind.Role when caller.Roles.Contains(rule.Argument!):
                    return Grant.Everything;
                case AccessRuleKind.Owner when caller.Kind == CallerKind.User:
                    (owners ??= []).Add(rule);
                    break;
            }
        }
        return owners is null ? Grant.Nothing : Grant.Owned([.. owners], caller.Id!);
    }

    private static bool HasScope(Caller caller, string verb, string? collection) =>
        caller.Scopes.Contains("*") || caller.Scopes.Contains(verb) || (collection is not null && caller.Scopes.Contains(verb + ":" + collection));

    private static bool IsValidScope(string scope) =>
        scope is "*" or "read" or "write" or "jobs" or "groups"
        || (scope.StartsWith("groups:", StringComparison.Ordinal) && ConsumerGroups.IsValidName(scope[7..]))
        || (scope.StartsWith("read:", StringComparison.Ordinal) && Lockstep.Protocol.Names.IsValidCollection(scope[5..]))
        || (scope.StartsWith("write:", StringComparison.Ordinal) && Lockstep.Protocol.Names.IsValidCollection(scope[6..]));

    private static AccessRule[] Parse(List<string> rules) => [.. rules.Select(AccessRule.Parse)];

    private static AccessRule[] ParseOr(List<string> rules, AccessRule[] fallback) => rules.Count == 0 ? fallback : Parse(rules);
}
