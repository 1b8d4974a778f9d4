using Lockstep.Core;
using Lockstep.Server;
using Lockstep.Storage.PostgreSql;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Lockstep in an ASP.NET Core app.</summary>
public static class LockstepServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Lockstep engine. Options bind from the configuration section <c>Lockstep</c> (when an
    /// <see cref="IConfiguration"/> is registered), then <paramref name="configure"/> runs.
    /// Choose a store next: <see cref="AddSqliteStore"/> (one node) or <see cref="AddPostgreSqlStore"/> (one or several nodes).
    /// </summary>
    public static LockstepBuilder AddLockstep(this IServiceCollection services, Action<LockstepOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<LockstepOptions>()
            .BindConfiguration(LockstepOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.IdleTimeout > o.HeartbeatInterval, "IdleTimeout must be longer than HeartbeatInterval.")
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }
        services.TryAddSingleton(TimeProvider.System);
        AddEngine(services);
        AddApplicationServices(services);
        services.TryAddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.TryAddSingleton<LockstepMarker>();
        // Kestrel's connection limits follow the open-files limit (unused under another server).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<KestrelServerOptions>, KestrelLimits>());
        LockstepAuthentication.Register(services);
        services.AddOptions<JobQueueOptions>().BindConfiguration(JobQueueOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<JobQueues>();
        services.AddHostedService(sp => sp.GetRequiredService<JobQueues>());
        // Jobs enqueued by mutators commit with their batch: waiting claims wake right after.
        services.AddSingleton<ICommitObserver>(sp => sp.GetRequiredService<JobQueues>());
        return new LockstepBuilder(services);
    }

    /// <summary>
    /// The engine's pieces, each a singleton. Hosted services start in this order and stop in the reverse:
    /// the engine (store, sequencer) first, so the others find the store open; membership leaves the
    /// cluster before the engine drains the sequencer and cancels <see cref="LockstepEngine.Stopping"/>.
    /// </summary>
    private static void AddEngine(IServiceCollection services)
    {
        services.TryAddSingleton<EngineLifetime>();
        services.TryAddSingleton<EngineMetrics>();
        services.TryAddSingleton(sp => new HybridClock(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new AccessPolicy(Lockstep(sp)));
        services.TryAddSingleton(sp => new ClientRateLimiter(Lockstep(sp)));
        services.TryAddSingleton(sp => new ConnectionAdmission(ConnectionBudget.ForThisProcess(Lockstep(sp)), Lockstep(sp)));
        services.TryAddSingleton<MutatorRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IMutatorSource, ConsumerGroupMutators>());
        services.TryAddSingleton<LogHorizon>();
        services.TryAddSingleton<FanOut>();
        services.TryAddSingleton<LogFollower>();
        // The first commit observer publishes: on one node the fan-out takes the sequencer's batches as they
        // are; on a shared store the follower does, keeping them in seq order with the other nodes' commits.
        services.AddSingleton<ICommitObserver>(sp => sp.GetRequiredService<IChangeStore>() is ISharedChangeStore
            ? sp.GetRequiredService<LogFollower>()
            : sp.GetRequiredService<FanOut>());
        services.TryAddSingleton<Sequencer>();
        services.TryAddSingleton<ClusterMembership>();
        services.TryAddSingleton<CompactionService>();
        services.TryAddSingleton<CallerAuthenticator>();
        services.TryAddSingleton<SessionServices>();
        // The engine's constructor takes internal services, which the container only calls on a public constructor.
        services.TryAddSingleton(sp => new LockstepEngine(sp.GetRequiredService<IChangeStore>(), sp.GetRequiredService<IOptions<LockstepOptions>>(),
            sp.GetRequiredService<ILogger<LockstepEngine>>(), sp.GetRequiredService<EngineLifetime>(), sp.GetRequiredService<Sequencer>(),
            sp.GetRequiredService<FanOut>(), sp.GetRequiredService<LogHorizon>(), sp.GetRequiredService<ConnectionAdmission>(),
            sp.GetRequiredService<EngineMetrics>()));
        services.AddHostedService(sp => sp.GetRequiredService<LockstepEngine>());
        services.AddHostedService(sp => sp.GetRequiredService<LogFollower>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterMembership>());
        services.AddHostedService(sp => sp.GetRequiredService<CompactionService>());
    }

    /// <summary>
    /// What the REST endpoints (and, where they do the same, the sync sessions) call: each takes a caller and typed
    /// inputs and answers a value or a refusal, and knows nothing of HTTP (docs/dev/engine.md, "Application services").
    /// </summary>
    private static void AddApplicationServices(IServiceCollection services)
    {
        services.TryAddSingleton<MutationService>();
        services.TryAddSingleton<DocumentService>();
        services.TryAddSingleton<ChangeFeedService>();
        services.TryAddSingleton<JobService>();
        services.TryAddSingleton<GroupService>();
        services.TryAddSingleton<WebhookService>();
        services.TryAddSingleton<StatusService>();
    }

    private static LockstepOptions Lockstep(IServiceProvider services) => services.GetRequiredService<IOptions<LockstepOptions>>().Value;

    /// <summary>Stores the log and documents in an embedded SQLite file.</summary>
    public static LockstepBuilder AddSqliteStore(this LockstepBuilder builder, string path, SqliteSynchronous synchronous = SqliteSynchronous.Full)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(path);
        builder.Services.RemoveAll<IChangeStore>();
        builder.Services.AddSingleton<IChangeStore>(_ => new SqliteChangeStore(new SqliteStoreOptions { Path = path, Synchronous = synchronous }));
        return builder;
    }

    /// <summary>
    /// Stores the log and documents in PostgreSQL. Several nodes given the same database form a
    /// cluster: one log, commit notifications, a node registry and leases (docs/operations.md).
    /// </summary>
    public static LockstepBuilder AddPostgreSqlStore(this LockstepBuilder builder, string connectionString, Action<PostgreSqlStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var options = new PostgreSqlStoreOptions { ConnectionString = connectionString };
        configure?.Invoke(options);
        options.Validate();
        builder.Services.RemoveAll<IChangeStore>();
        builder.Services.AddSingleton<IChangeStore>(_ => new PostgreSqlChangeStore(options));
        return builder;
    }
}

/// <summary>Proves that AddLockstep() ran before MapLockstep().</summary>
internal sealed class LockstepMarker;
