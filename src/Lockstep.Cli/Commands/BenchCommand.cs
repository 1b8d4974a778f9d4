using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Lockstep.Cli.Bench;
using Lockstep.Cli.Bench.Scenarios;
using Lockstep.Protocol;

namespace Lockstep.Cli.Commands;

/// <summary>
/// <c>lockstep bench</c>: benchmarks (not tests) against the bench's own server — a child <c>lockstep serve</c> — or
/// running ones: without <c>--scenario</c> throughput, latency and bytes on the wire in turn; with it, one scenario.
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command Create()
    {
        var options = new BenchOptions();
        var command = new Command("bench", "Measure durable writes per second, write → seen latency at a fixed rate, bytes on the wire per update and per snapshot; or one scenario (--scenario).");
        options.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var (settings, error) = options.Read(result);
            if (settings is null)
            {
                Console.Error.WriteLine($"lockstep bench: {error}");
                return ServerClient.ExitUsage;
            }
            try
            {
                return await RunAsync(settings, cancellationToken);
            }
            catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or HttpRequestException or TimeoutException or IOException)
            {
                Console.Error.WriteLine($"lockstep bench: {e.Message}");
                return ServerClient.ExitUnreachable;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var progress = settings.Json ? TextWriter.Null : Console.Out;
        var codec = FrameCodecs.ForEncoding(settings.Encoding)!;
        await using var own = settings.Urls is null
            ? await BenchServer.StartAsync(new BenchServerOptions(settings.Synchronous, settings.Postgres, settings.Nodes), cancellationToken)
            : null;
        var syncUrls = own is not null ? [.. own.Urls.Select(ToSyncUrl)] : settings.Urls!.Select(ToSyncUrl).ToArray();
        var pids = own?.Pids ?? settings.ServerPids;
        var server = new BenchServerInfo(
            own is null ? "given" : settings.Postgres is null ? "sqlite" : "postgres",
            own is null ? "server's" : settings.Postgres is null ? settings.Synchronous.ToString().ToLowerInvariant() : "postgres",
            syncUrls.Length,
            pids.Count > 0 ? [.. pids] : null);
        progress.WriteLine(own is not null
            ? $"server: child `lockstep serve` on {string.Join(", ", own.Urls)} (pid {string.Join(", ", own.Pids)}), {(settings.Postgres is null ? $"SQLite, synchronous={server.Synchronous}" : $"PostgreSQL, {settings.Nodes} node(s)")}"
            : $"server{(syncUrls.Length > 1 ? "s" : "")}: {string.Join(", ", syncUrls.Select(u => u.ToString()))}{(pids.Count > 0 ? $" (pid {string.Join(", ", pids)})" : "; no --server-pid, so no server CPU or RSS")}");
        progress.WriteLine($"encoding: {settings.Encoding} ({codec.SubProtocol})");
        var target = new BenchTarget(syncUrls, codec, progress, ProcessSampler.For(pids));
        if (settings.Scenario is null)
        {
            var outcome = await RunDefaultAsync(target, settings, server.Synchronous, cancellationToken);
            if (settings.Json)
            {
                Console.WriteLine(JsonSerializer.Serialize(outcome, Json));
            }
            else
            {
                Print(outcome);
            }
            return 0;
        }
        object scenario = settings.Scenario switch
        {
            "throughput" => await new ThroughputScenario(target).RunAsync(settings.Writes, settings.Writers, cancellationToken),
            "latency" => await RunLatencyAsync(target, settings, cancellationToken),
            "snapshot" => await RunSnapshotAsync(target, cancellationToken),
            "fanout" => await RunFanoutAsync(target, settings, cancellationToken),
            "connections" => await new ConnectionsScenario(target).RunAsync(settings.Connections, cancellationToken),
            "catchup" => await new CatchupScenario(target).RunAsync(settings.Changes, settings.Writers, cancellationToken),
            _ => throw new InvalidOperationException($"unknown scenario {settings.Scenario}"),
        };
        var json = new JsonObject { ["scenario"] = settings.Scenario };
        foreach (var (name, value) in JsonSerializer.SerializeToNode(scenario, scenario.GetType(), Json)!.AsObject().ToList())
        {
            json[name] = value?.DeepClone();
        }
        json["encoding"] = settings.Encoding;
        json["server"] = JsonSerializer.SerializeToNode(server, Json);
        json["machine"] = JsonSerializer.SerializeToNode(MachineInfo.Current, Json);
        if (settings.Json)
        {
            Console.WriteLine(json.ToJsonString(Json));
        }
        else
        {
            Console.WriteLine();
            foreach (var (name, value) in json)
            {
                Console.WriteLine($"{name,-32}{(value is null ? "—" : value is JsonValue ? value.ToString() : value.ToJsonString())}");
            }
        }
        return 0;
    }

    private static async Task<BenchResult> RunDefaultAsync(BenchTarget target, BenchSettings settings, string synchronous, CancellationToken cancellationToken)
    {
        target.Progress.WriteLine($"phase 1: {settings.Writes} single-field writes from {settings.Writers} connections …");
        var throughput = await new ThroughputScenario(target).RunAsync(settings.Writes, settings.Writers, cancellationToken);
        var latency = await RunLatencyAsync(target, settings, cancellationToken, "phase 2: ");
        var snapshot = await RunSnapshotAsync(target, cancellationToken, "phase 3: ");
        return new BenchResult(settings.Writes, settings.Writers, throughput.WritesPerSec, latency.Readers, latency.Rate, latency.Updates, latency.LatencyMs,
            latency.BytesPerUpdatePerReader, snapshot, settings.Encoding, synchronous, MachineInfo.Current, throughput.ServerCpuUsPerWrite, latency.ServerCpuUsPerFrame);
    }

    private static Task<LatencyOutcome> RunLatencyAsync(BenchTarget target, BenchSettings settings, CancellationToken cancellationToken, string prefix = "")
    {
        var rate = settings.Rate ?? 1000;
        var duration = settings.Duration ?? 10;
        target.Progress.WriteLine($"{prefix}{settings.Readers} readers, one writer at {rate} writes/s for {duration} s …");
        return new LatencyScenario(target).RunAsync(settings.Readers, rate, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(settings.Warmup), cancellationToken);
    }

    private static Task<FanoutOutcome> RunFanoutAsync(BenchTarget target, BenchSettings settings, CancellationToken cancellationToken)
    {
        var rate = settings.Rate ?? 20;
        var duration = settings.Duration ?? 10;
        target.Progress.WriteLine($"fanout: {settings.Subscribers:N0} subscribers of one document, one writer at {rate} writes/s for {duration} s …");
        return new FanoutScenario(target).RunAsync(settings.Subscribers, rate, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(settings.Warmup), cancellationToken);
    }

    private static Task<SnapshotSummary> RunSnapshotAsync(BenchTarget target, CancellationToken cancellationToken, string prefix = "")
    {
        target.Progress.WriteLine($"{prefix}one subscriber's snapshot of {SnapshotScenario.Documents:N0} documents …");
        return new SnapshotScenario(target).RunAsync(cancellationToken);
    }

    private static Uri ToSyncUrl(Uri url)
    {
        var builder = new UriBuilder(url) { Scheme = url.Scheme is "https" or "wss" ? "wss" : "ws" };
        if (builder.Path is "" or "/")
        {
            builder.Path = "/v1/sync";
        }
        return builder.Uri;
    }

    private static void Print(BenchResult r)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"durable writes/s      {r.WritesPerSec,12:N0}   ({r.Writes} writes, {r.Writers} connections, synchronous={r.Synchronous})"));
        Console.WriteLine(string.Create(c, $"server CPU/write, µs  {Figure(r.ServerCpuUsPerWrite),12}   (from /proc: the server process only)"));
        Console.WriteLine(string.Create(c, $"write → seen, ms      p50 {r.LatencyMs.P50:F2}  p90 {r.LatencyMs.P90:F2}  p99 {r.LatencyMs.P99:F2}  max {r.LatencyMs.Max:F2}   ({r.Updates} writes at {r.Rate}/s, {r.Readers} readers)"));
        Console.WriteLine(string.Create(c, $"server CPU/frame, µs  {Figure(r.ServerCpuUsPerFrame),12}   (per change frame delivered in phase 2)"));
        Console.WriteLine(string.Create(c, $"encoding              {r.Encoding,12}"));
        Console.WriteLine(string.Create(c, $"bytes/update/reader   {r.BytesPerUpdatePerReader,12:F1}   (WebSocket payload + frame header of each change)"));
        Console.WriteLine(string.Create(c, $"snapshot bytes        {r.Snapshot.Bytes,12:N0}   ({r.Snapshot.Documents:N0} documents in {r.Snapshot.Frames} frames; their JSON alone {r.Snapshot.DocumentJsonBytes:N0} B)"));
        Console.WriteLine(string.Create(c, $"machine               {r.Machine.Cores} cores, {r.Machine.Os}, {r.Machine.Runtime}"));
    }

    private static string Figure(double? value) => value is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : "—";
}

/// <summary>The servers a scenario ran against.</summary>
/// <param name="Store">sqlite or postgres for the bench's own server; given for <c>--url</c>.</param>
/// <param name="Synchronous">SQLite's durability of the bench's own server; postgres; or server's.</param>
/// <param name="Nodes">The nodes (sync URLs).</param>
/// <param name="Pids">The servers' process ids when known (their CPU and RSS figures come from /proc), else null.</param>
internal sealed record BenchServerInfo(string Store, string Synchronous, int Nodes, int[]? Pids);
