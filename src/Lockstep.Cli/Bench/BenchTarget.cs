using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

/// <summary>What a scenario runs against: the servers' sync URLs (one per node), the encoding, where progress goes, and the servers' processes when their PIDs are known.</summary>
internal sealed class BenchTarget
{
    public BenchTarget(IReadOnlyList<Uri> syncUrls, IFrameCodec codec, TextWriter progress, ProcessSampler? sampler)
    {
        SyncUrls = syncUrls;
        Codec = codec;
        Progress = progress;
        Sampler = sampler;
    }

    public IReadOnlyList<Uri> SyncUrls { get; }

    public IFrameCodec Codec { get; }

    public TextWriter Progress { get; }

    /// <summary>The servers' processes, or null when their PIDs are not known (<c>--url</c> without <c>--server-pid</c>).</summary>
    public ProcessSampler? Sampler { get; }

    /// <summary>A connection to node <paramref name="node"/> (modulo the nodes), with a plain hello.</summary>
    public Task<BenchConnection> ConnectAsync(int node, string clientId, CancellationToken cancellationToken) =>
        BenchConnection.ConnectAsync(SyncUrls[node % SyncUrls.Count], clientId, Codec, cancellationToken);

    /// <summary>The servers' CPU time and RSS now, or null without a sampler.</summary>
    public ProcessReading? ReadProcesses() => Sampler?.Read();

    /// <summary>Microseconds of server CPU between two readings per unit of work; null without a sampler or work.</summary>
    public static double? CpuMicrosecondsPer(ProcessReading? before, ProcessReading? after, long units) =>
        before is { } b && after is { } a && units > 0 ? Math.Round((a.Cpu - b.Cpu).TotalMicroseconds / units, 2) : null;

    /// <summary>
    /// The managed heap of every node, summed, from <c>GET /v1/status</c>'s <c>process</c> object; null when a node
    /// does not report it (a server of before it, or one that refuses the bench).
    /// </summary>
    public async Task<long?> ReadManagedHeapAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var total = 0L;
        foreach (var sync in SyncUrls)
        {
            var status = new UriBuilder(sync) { Scheme = sync.Scheme == "wss" ? "https" : "http", Path = "/v1/status" }.Uri;
            try
            {
                using var response = await http.GetAsync(status, cancellationToken);
                if (!response.IsSuccessStatusCode
                    || JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))?["process"]?["managedHeapBytes"] is not JsonValue heap
                    || !heap.TryGetValue<long>(out var bytes))
                {
                    return null;
                }
                total += bytes;
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }
        return total;
    }
}
