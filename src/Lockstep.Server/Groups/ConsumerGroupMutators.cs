namespace Lockstep.Server;

/// <summary>Contributes the consumer groups' internal mutators (<see cref="ConsumerGroups"/>) to the <see cref="MutatorRegistry"/>.</summary>
internal sealed class ConsumerGroupMutators : IMutatorSource
{
    public IEnumerable<KeyValuePair<string, Mutator>> Mutators =>
    [
        new(ConsumerGroups.ClaimMutator, ConsumerGroups.ClaimAsync),
        new(ConsumerGroups.CommitMutator, ConsumerGroups.CommitAsync),
        new(ConsumerGroups.LeaveMutator, ConsumerGroups.LeaveAsync),
    ];
}
