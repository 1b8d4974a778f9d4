using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Who may read or write a collection, written as a string in configuration: <c>public</c> (anyone,
/// including anonymous connections), <c>authenticated</c> (any signed-in user), <c>role:NAME</c> (users
/// whose role claim holds NAME) or <c>owner:PATH</c> (the documents whose field PATH, a dotted path,
/// equals the user's id). A list of rules allows what any one of them allows.
/// </summary>
public sealed class AccessRule
{
    private AccessRule(AccessRuleKind kind, string? argument)
    {
        Kind = kind;
        Argument = argument;
    }

    /// <summary>Anyone, including anonymous connections.</summary>
    public static AccessRule Public { get; } = new(AccessRuleKind.Public, null);

    /// <summary>Any authenticated user.</summary>
    public static AccessRule Authenticated { get; } = new(AccessRuleKind.Authenticated, null);

    /// <summary>What kind of rule this is.</summary>
    public AccessRuleKind Kind { get; }

    /// <summary>The role of a <c>role:</c> rule, or the field path of an <c>owner:</c> rule.</summary>
    public string? Argument { get; }

    /// <summary>The segments of an owner rule's path.</summary>
    internal IReadOnlyList<string> Segments { get; private init; } = [];

    /// <summary>Users whose role claim holds <paramref name="role"/>.</summary>
    public static AccessRule Role(string role)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(role);
        return new(AccessRuleKind.Role, role);
    }

    /// <summary>The documents whose field <paramref name="path"/> (dotted) equals the user's id.</summary>
    public static AccessRule Owner(string path)
    {
        if (!Names.TrySplitPath(path, out var segments))
        {
            throw new ArgumentException($"'{path}' is not a field path.", nameof(path));
        }
        return new(AccessRuleKind.Owner, path) { Segments = segments };
    }

    /// <summary>Parses <c>public</c>, <c>authenticated</c>, <c>role:NAME</c> or <c>owner:PATH</c>.</summary>
    /// <exception cref="FormatException">The text is none of these.</exception>
    public static AccessRule Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        try
        {
            return trimmed switch
            {
                "public" => Public,
                "authenticated" => Authenticated,
                _ when trimmed.StartsWith("role:", StringComparison.Ordinal) => Role(trimmed[5..]),
                _ when trimmed.StartsWith("owner:", StringComparison.Ordinal) => Owner(trimmed[6..]),
                _ => throw new FormatException(),
            };
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new FormatException($"'{text}' is not an access rule: use public, authenticated, role:NAME or owner:FIELD.PATH.", e);
        }
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        AccessRuleKind.Public => "public",
        AccessRuleKind.Authenticated => "authenticated",
        AccessRuleKind.Role => "role:" + Argument,
        _ => "owner:" + Argument,
    };
}
