using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>Registers a <see cref="LockstepClient"/> in a service collection.</summary>
public static class LockstepClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="LockstepClient"/> configured by <paramref name="configure"/> (the
    /// logger factory comes from the container unless set), and a hosted service that starts it with
    /// the host and disposes it when the host stops. Starting does not wait for a connection.
    /// </summary>
    public static IServiceCollection AddLockstepClient(this IServiceCollection services, Action<LockstepClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.TryAddSingleton(provider =>
        {
            var options = new LockstepClientOptions { LoggerFactory = provider.GetService<ILoggerFactory>() };
            configure(options);
            return new LockstepClient(options);
        });
        services.AddHostedService<LockstepClientHostedService>();
        return services;
    }

    private sealed class LockstepClientHostedService(LockstepClient client) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            client.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => client.DisposeAsync().AsTask().WaitAsync(cancellationToken);
    }
}
