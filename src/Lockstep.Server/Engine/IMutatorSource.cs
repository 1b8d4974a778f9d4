namespace Lockstep.Server;

/// <summary>
/// Contributes server-side mutators by name (registered as a service). The <see cref="MutatorRegistry"/>
/// joins every source with the application's own (<see cref="LockstepOptions.Mutator"/>); the server's
/// features (consumer groups) add theirs this way rather than by changing the options.
/// </summary>
internal interface IMutatorSource
{
    /// <summary>The mutators, by name.</summary>
    IEnumerable<KeyValuePair<string, Mutator>> Mutators { get; }
}
