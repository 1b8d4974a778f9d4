namespace Lockstep.Server;

/// <summary>The kinds of <see cref="Caller"/>.</summary>
internal enum CallerKind
{
    Anonymous,
    User,
    Service,
}
