namespace Lockstep.Server;

/// <summary>The kinds of <see cref="AccessRule"/>.</summary>
public enum AccessRuleKind
{
    /// <summary>Anyone, including anonymous connections.</summary>
    Public,

    /// <summary>Any authenticated user.</summary>
    Authenticated,

    /// <summary>Users holding a role.</summary>
    Role,

    /// <summary>Documents whose owner field equals the user's id.</summary>
    Owner,
}
