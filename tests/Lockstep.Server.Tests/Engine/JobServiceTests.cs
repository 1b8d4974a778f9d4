using Lockstep.Core.Jobs;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The job queues' service without Kestrel, over a real SQLite file: access, the fencing token, not found, a claim's wait.</summary>
public sealed class JobServiceTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task<(JobService Jobs, JobQueues Queues, EngineLifetime Lifetime)> StartAsync(EngineRig rig)
    {
        var lifetime = new EngineLifetime();
        lifetime.MarkStarted();
        var queues = new JobQueues(rig.Store, lifetime, Microsoft.Extensions.Options.Options.Create(new JobQueueOptions()), NullLogger<JobQueues>.Instance);
        var jobs = new JobService(queues, lifetime, new AccessPolicy(rig.Options), NullLoggerFactory.Instance);
        Assert.Null(await jobs.OpenAsync());
        return (jobs, queues, lifetime);
    }

    private static NewJob Job(string queue) => new() { Queue = queue, Payload = "{\"n\":1}" };

    [Fact]
    public async Task The_queues_admit_only_whom_the_jobs_rule_names()
    {
        await using var rig = await EngineRig.StartAsync(o =>
        {
            o.Auth.Jobs.Clear();
            o.Auth.Jobs.Add("role:worker");
        });
        var (jobs, queues, lifetime) = await StartAsync(rig);
        using (lifetime)
        using (queues)
        {
            Assert.Equal(ErrorCodes.Forbidden, jobs.Admit(ServiceRig.User("alice"))!.Error);
            Assert.Null(jobs.Admit(ServiceRig.User("bob", "worker")));
        }
    }

    [Fact]
    public async Task Completing_with_a_stale_token_is_lease_lost_and_an_unknown_job_is_job_not_found()
    {
        await using var rig = await EngineRig.StartAsync();
        var (jobs, queues, lifetime) = await StartAsync(rig);
        using (lifetime)
        using (queues)
        {
            var enqueued = await jobs.EnqueueAsync(Job("mail"), None);
            Assert.True(enqueued.Created);
            var claimed = Assert.Single(await jobs.ClaimAsync("mail", 1, TimeSpan.FromSeconds(30), TimeSpan.Zero, None));

            Assert.Equal(ErrorCodes.LeaseLost, (await jobs.CompleteAsync(claimed.Id, claimed.Token + 1, None))!.Error);
            Assert.Equal(ErrorCodes.JobNotFound, (await jobs.CompleteAsync(claimed.Id + 100, 1, None))!.Error);
            Assert.True((await jobs.GetAsync(claimed.Id + 100, None)).IsRefused(out var refusal));
            Assert.Equal(ErrorCodes.JobNotFound, refusal.Error);
            Assert.Equal(JobState.Leased, (await jobs.GetAsync(claimed.Id, None)).Value.State);

            Assert.Null(await jobs.CompleteAsync(claimed.Id, claimed.Token, None));
            Assert.Equal(JobState.Done, (await jobs.GetAsync(claimed.Id, None)).Value.State);
        }
    }

    [Fact]
    public async Task A_claim_with_nothing_ready_waits_and_an_enqueue_wakes_it()
    {
        await using var rig = await EngineRig.StartAsync();
        var (jobs, queues, lifetime) = await StartAsync(rig);
        using (lifetime)
        using (queues)
        {
            var claiming = jobs.ClaimAsync("mail", 1, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), None);
            await Task.Delay(200);
            Assert.False(claiming.IsCompleted);

            var enqueued = await jobs.EnqueueAsync(Job("mail"), None);

            var claimed = await claiming.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(enqueued.Job.Id, Assert.Single(claimed).Id);
        }
    }
}
