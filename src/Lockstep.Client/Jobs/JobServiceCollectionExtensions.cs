using Lockstep.Client.Jobs;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the job queue client and workers in a service collection.</summary>
public static class JobServiceCollectionExtensions
{
    /// <summary>Adds a singleton <see cref="LockstepJobs"/> configured by <paramref name="configure"/> (once; later calls do nothing).</summary>
    public static IServiceCollection AddLockstepJobs(this IServiceCollection services, Action<LockstepJobsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.TryAddSingleton(_ =>
        {
            var options = new LockstepJobsOptions();
            configure(options);
            return new LockstepJobs(options);
        });
        return services;
    }

    /// <summary>
    /// Adds a hosted <see cref="JobWorker"/> that serves one queue through the registered
    /// <see cref="LockstepJobs"/> (call <see cref="AddLockstepJobs"/> first): it starts with the host
    /// and, when the host stops, finishes its running jobs within the host's shutdown timeout.
    /// Call once per queue.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the worker's options; <see cref="JobWorkerOptions.Queue"/> is required.</param>
    /// <param name="handler">Creates the handler, with the container (for scoped services, create a scope per job inside it).</param>
    public static IServiceCollection AddLockstepJobWorker(this IServiceCollection services, Action<JobWorkerOptions> configure, Func<IServiceProvider, JobHandler> handler)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(handler);
        services.AddSingleton<IHostedService>(provider =>
        {
            var options = new JobWorkerOptions();
            configure(options);
            var jobs = provider.GetService<LockstepJobs>()
                ?? throw new InvalidOperationException("No LockstepJobs is registered: call services.AddLockstepJobs(...) first.");
            return new JobWorker(jobs, handler(provider), options, provider.GetService<ILogger<JobWorker>>());
        });
        return services;
    }
}
