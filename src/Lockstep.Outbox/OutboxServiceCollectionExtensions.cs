using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Lockstep.Outbox;

/// <summary>Registers the outbox and its relay in a service collection.</summary>
public static class OutboxServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="Outbox"/> (inject it where transactions enqueue) and an
    /// <see cref="OutboxRelay"/> run as a hosted service, configured by <paramref name="configure"/>.
    /// <see cref="OutboxRelayOptions.Outbox"/> is preset to the singleton, so enqueues wake the relay,
    /// and <see cref="OutboxRelayOptions.TimeProvider"/> to the container's when it has one.
    /// Create the tables (<see cref="OutboxSchema.EnsureCreatedAsync"/>) before the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the data source, the server URL and the rest.</param>
    public static IServiceCollection AddLockstepOutbox(this IServiceCollection services, Action<IServiceProvider, OutboxRelayOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.TryAddSingleton(provider => new Outbox(provider.GetService<TimeProvider>() ?? TimeProvider.System));
        services.TryAddSingleton(provider =>
        {
            var options = new OutboxRelayOptions
            {
                Outbox = provider.GetRequiredService<Outbox>(),
                TimeProvider = provider.GetService<TimeProvider>() ?? TimeProvider.System,
            };
            configure(provider, options);
            return new OutboxRelay(options, provider.GetService<ILogger<OutboxRelay>>());
        });
        services.AddHostedService(provider => provider.GetRequiredService<OutboxRelay>());
        return services;
    }
}
