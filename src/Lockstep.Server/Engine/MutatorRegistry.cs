using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Every mutator the sequencer can call, by name: the application's (from <see cref="LockstepOptions"/>)
/// and those of each <see cref="IMutatorSource"/>. A source's mutator wins over an application's of the
/// same name: the server's own state must not be changed by anything else.
/// </summary>
internal sealed class MutatorRegistry
{
    private readonly FrozenDictionary<string, Mutator> _mutators;

    public MutatorRegistry(IOptions<LockstepOptions> options, IEnumerable<IMutatorSource> sources)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sources);
        var mutators = new Dictionary<string, Mutator>(options.Value.Mutators, StringComparer.Ordinal);
        foreach (var source in sources)
        {
            foreach (var (name, mutator) in source.Mutators)
            {
                mutators[name] = mutator;
            }
        }
        _mutators = mutators.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The names of every registered mutator.</summary>
    public IEnumerable<string> Names => _mutators.Keys;

    /// <summary>Finds a mutator by name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out Mutator mutator) => _mutators.TryGetValue(name, out mutator);
}
