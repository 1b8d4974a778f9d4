using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Lockstep.Client.Jobs;
using Lockstep.Core.Jobs;
using Xunit;

namespace Lockstep.Cluster.Tests;

/// <summary>One job queue served by workers on two real nodes over one PostgreSQL.</summary>
public sealed class JobClusterTests
{
    [Fact]
    public async Task A_claim_waiting_on_one_node_is_woken_by_an_enqueue_on_another()
    {
        // Claims look again only every 30 s here, so an answer well within that came from the notification.
        await using var cluster = await Cluster.StartAsync(2, new Dictionary<string, string> { ["Lockstep__Jobs__ClaimPollInterval"] = "00:00:30" });
        using var first = new LockstepJobs(new LockstepJobsOptions { BaseUrl = new Uri(cluster.Node(0).HttpUrl, "/v1/") });
        using var second = new LockstepJobs(new LockstepJobsOptions { BaseUrl = new Uri(cluster.Node(1).HttpUrl, "/v1/") });
        await Task.Delay(1000); // the nodes' listeners start right after they report healthy
        var clock = Stopwatch.StartNew();
        var waiting = second.ClaimAsync("wake", 1, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(25), CancellationToken.None);
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);
        var job = await first.EnqueueAsync("wake", new JsonObject { ["hello"] = "node 1" }, CancellationToken.None);
        var claimed = Assert.Single(await waiting);
        Assert.Equal(job.Id, claimed.Id);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"answered after {clock.Elapsed}, not by the notification");
    }

    [Fact]
    public async Task Workers_on_two_nodes_share_one_queue_and_process_each_job_exactly_once()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var apis = cluster.Nodes.Select(n => new LockstepJobs(new LockstepJobsOptions { BaseUrl = new Uri(n!.HttpUrl, "/v1/") })).ToList();
        try
        {
            const int Count = 90;
            for (var i = 0; i < Count; i++)
            {
                await apis[i % 2].EnqueueAsync("mail", new JsonObject { ["n"] = i },
                    new JobEnqueueOptions { Lane = (JobLane)(i % 3), IdempotencyKey = $"k{i}" }, CancellationToken.None);
            }
            // The same keys again, through the other node: nothing new.
            for (var i = 0; i < Count; i += 9)
            {
                Assert.True((await apis[(i + 1) % 2].EnqueueAsync("mail", new JsonObject(), new JobEnqueueOptions { IdempotencyKey = $"k{i}" }, CancellationToken.None)).Duplicate);
            }
            var processed = new ConcurrentDictionary<int, ConcurrentBag<int>>();
            var workers = apis.Select((api, node) => new JobWorker(api, async (job, ct) =>
            {
                processed.GetOrAdd((int)job.Payload!["n"]!, _ => []).Add(node);
                await Task.Delay(50, ct);
            }, new JobWorkerOptions { Queue = "mail", Concurrency = 3, ClaimWait = TimeSpan.FromSeconds(2) })).ToList();
            foreach (var worker in workers)
            {
                await worker.StartAsync(CancellationToken.None);
            }
            var clock = Stopwatch.StartNew();
            while (processed.Count < Count || (await apis[1].GetQueueCountsAsync("mail", CancellationToken.None)).Done != Count)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"{processed.Count} of {Count} processed");
                await Task.Delay(100);
            }
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
            Assert.Equal(Count, processed.Count);
            Assert.All(processed.Values, nodes => Assert.Single(nodes));
            Assert.Equal(2, processed.Values.SelectMany(n => n).Distinct().Count());
        }
        finally
        {
            foreach (var api in apis)
            {
                api.Dispose();
            }
        }
    }
}
