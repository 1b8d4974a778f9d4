using System.Diagnostics;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Cluster.Tests;

/// <summary>`lockstep bench --postgres … --nodes N`: the bench starts its own nodes over one PostgreSQL database, spreads its clients over them, and stops them.</summary>
public sealed class BenchClusterTests
{
    [Fact]
    public async Task Bench_fanout_over_two_postgres_nodes_it_starts_itself_delivers_every_write_and_stops_them()
    {
        await using var database = await Cluster.StartAsync(0); // a fresh database, no nodes
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { ServerProcess.CliPath, "bench", "--scenario", "fanout", "--postgres", database.ConnectionString, "--nodes", "2", "--subscribers", "6", "--rate", "10", "--duration", "1", "--warmup", "0", "--json" })
        {
            info.ArgumentList.Add(arg);
        }
        using var bench = Process.Start(info)!;
        var stdout = bench.StandardOutput.ReadToEndAsync();
        var stderr = bench.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await bench.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            bench.Kill(entireProcessTree: true);
            throw;
        }
        Assert.True(bench.ExitCode == 0, await stderr);
        var json = JsonNode.Parse(await stdout)!;
        var server = json["server"]!;
        Assert.Equal("postgres", (string?)server["store"]);
        Assert.Equal(2, (int)server["nodes"]!);
        var pids = server["pids"]!.AsArray().Select(p => (int)p!).ToList();
        Assert.Equal(2, pids.Distinct().Count());
        Assert.Equal(6, (int)json["subscribed"]!);
        Assert.Equal(60, (long)json["framesDelivered"]!); // 10 writes on node 0, subscribers on both nodes
        Assert.Equal(60, (long)json["latencyMs"]!["samples"]!);
        Assert.True((double)json["serverCpuUsPerFrame"]! >= 0);
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"node {pid} is stopped"));
    }
}
