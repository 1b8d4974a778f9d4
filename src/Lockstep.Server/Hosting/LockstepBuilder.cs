using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Server;

/// <summary>Returned by <c>AddLockstep()</c>: chooses the store and registers mutators.</summary>
public sealed class LockstepBuilder
{
    internal LockstepBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The service collection being configured.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Registers a server-side mutator that clients call by name.</summary>
    public LockstepBuilder AddMutator(string name, Mutator mutator)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(mutator);
        Services.Configure<LockstepOptions>(o => o.Mutator(name, mutator));
        return this;
    }
}
