using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>What AddLockstep registers, resolved from the container without starting anything.</summary>
public sealed class WiringTests
{
    [Fact]
    public async Task On_one_node_the_fan_out_is_the_first_commit_observer_and_job_wake_ups_follow()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-wiring-" + Guid.NewGuid().ToString("N"));
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddLockstep(o => o.Auth.OpenToAnyone()).AddSqliteStore(Path.Combine(dir, "wiring.db"));
        await using (var provider = services.BuildServiceProvider())
        {
            var observers = provider.GetServices<ICommitObserver>().ToList();
            Assert.Same(provider.GetRequiredService<FanOut>(), observers[0]);
            Assert.Contains(provider.GetRequiredService<JobQueues>(), observers);
            Assert.DoesNotContain(observers, o => o is LogFollower);

            var hosted = provider.GetServices<IHostedService>().ToList();
            Assert.IsType<LockstepEngine>(hosted[0]);
            Assert.Contains(hosted, h => h is ClusterMembership);
            Assert.Contains(hosted, h => h is CompactionService);
            Assert.True(provider.GetRequiredService<MutatorRegistry>().TryGet(ConsumerGroups.ClaimMutator, out _));
            Assert.False(provider.GetRequiredService<ClusterMembership>().IsClustered);

            // The application services the endpoints take, one of each, over the same engine.
            Assert.Same(provider.GetRequiredService<DocumentService>(), provider.GetRequiredService<DocumentService>());
            foreach (var service in new[] { typeof(MutationService), typeof(ChangeFeedService), typeof(JobService), typeof(GroupService), typeof(WebhookService), typeof(StatusService) })
            {
                Assert.NotNull(provider.GetService(service));
            }
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
