using System.Collections.Concurrent;
using System.Net.Http.Json;
using Lockstep.Client;
using Xunit;

namespace Lockstep.Cluster.Tests;

/// <summary>A consumer group whose members talk to different nodes: one group state, one share of the partitions each, every change handled.</summary>
public sealed class ConsumerGroupClusterTests
{
    [Fact]
    public async Task Members_on_different_nodes_share_one_group_and_survive_the_death_of_a_node()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var handled = new ConcurrentDictionary<long, string>();
        LockstepConsumer Member(string name, params Lockstep.Server.Tests.ServerProcess[] nodes) =>
            new([.. nodes.Select(n => n.HttpUrl)], "billing", ["orders"], (change, _) =>
            {
                handled[change.Seq] = name;
                return ValueTask.CompletedTask;
            }, new ConsumerOptions { Member = name, Partitions = 8, Lease = TimeSpan.FromSeconds(2), CommitInterval = TimeSpan.FromMilliseconds(100) });

        // a talks to node 0 (then node 1 when node 0 is gone), b to node 1.
        await using var a = Member("a", cluster.Node(0), cluster.Node(1));
        await using var b = Member("b", cluster.Node(1));
        await a.StartAsync(default);
        await a.Joined.WaitAsync(TimeSpan.FromSeconds(20));
        await b.StartAsync(default);
        await b.Joined.WaitAsync(TimeSpan.FromSeconds(20));

        using var http = new HttpClient();
        var seqs = new List<long>();
        for (var i = 0; i < 200; i++)
        {
            var node = cluster.Node(1);
            var response = await http.PutAsJsonAsync(new Uri(node.HttpUrl, $"/v1/collections/orders/docs/o{i % 40}"), new { i });
            response.EnsureSuccessStatusCode();
            seqs.Add((long)(await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["seq"]!);
            if (i == 100)
            {
                await cluster.KillAsync(0); // a's node dies: a goes on through node 1
            }
        }
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (seqs.Any(s => !handled.ContainsKey(s)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{seqs.Count(s => !handled.ContainsKey(s))} changes not handled");
            await Task.Delay(100);
        }
        for (var i = 0; i < 100 && a.Partitions.Count + b.Partitions.Count != 8; i++)
        {
            await Task.Delay(100); // a rebalance may be between its renewals
        }
        Assert.Equal(8, a.Partitions.Count + b.Partitions.Count);
        Assert.Empty(a.Partitions.Intersect(b.Partitions));
        Assert.Contains(handled.Values, m => m == "a");
        Assert.Contains(handled.Values, m => m == "b");
    }
}
