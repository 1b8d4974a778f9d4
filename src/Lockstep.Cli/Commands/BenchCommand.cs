using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Cli.Bench;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep bench</c>: a benchmark (not a test) of throughput, latency and bytes on the wire.</summary>
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
        var url = new Option<Uri[]>("--url")
        {
            Description = "A running server (http://host:port or ws://host:port/v1/sync); repeat it for the nodes of a cluster (writers and readers are spread over them, readers on other nodes than the writer). By default the bench starts its own server on a temporary directory.",
            CustomParser = ParseUrls,
        };
        var writes = new Option<int>("--writes") { Description = "Writes in the throughput phase.", DefaultValueFactory = _ => 20_000 };
        var writers = new Option<int>("--writers") { Description = "Concurrent writer connections in the throughput phase (each keeps up to 64 writes in flight).", DefaultValueFactory = _ => 32 };
        var readers = new Option<int>("--readers") { Description = "Subscribers in the latency phase.", DefaultValueFactory = _ => 4 };
        var rate = new Option<int>("--rate") { Description = "Writes per second in the latency phase.", DefaultValueFactory = _ => 1000 };
        var duration = new Option<double>("--duration") { Description = "Seconds of the latency phase.", DefaultValueFactory = _ => 10 };
        var synchronous = new Option<SqliteSynchronous>("--synchronous") { Description = "Durability of the server the bench starts itself: full (default), normal, off.", DefaultValueFactory = _ => SqliteSynchronous.Full };
        var encoding = new Option<string>("--encoding") { Description = "The frames' encoding: json (default) or msgpack.", DefaultValueFactory = _ => "json" };
        encoding.AcceptOnlyFromAmong("json", "msgpack");
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("bench", "Measure durable writes per second, write → seen latency at a fixed rate, and bytes on the wire per update and per snapshot.")
        {
            url, writes, writers, readers, rate, duration, synchronous, encoding, json,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var w = result.GetValue(writes);
            var ws = result.GetValue(writers);
            var r = result.GetValue(readers);
            var rt = result.GetValue(rate);
            var d = result.GetValue(duration);
            if (w < 1 || ws < 1 || r < 0 || rt < 1 || d <= 0)
            {
                Console.Error.WriteLine("lockstep bench: --writes, --writers and --rate must be at least 1, --readers at least 0, --duration above 0.");
                return ServerClient.ExitUsage;
            }
            var progress = result.GetValue(json) ? TextWriter.Null : Console.Out;
            var given = result.GetValue(url) is { Length: > 0 } urls ? urls : null;
            var sync = result.GetValue(synchronous);
            var encodingName = result.GetValue(encoding)!;
            var codec = Protocol.FrameCodecs.ForEncoding(encodingName)!;
            string? tempDir = null;
            WebApplication? app = null;
            try
            {
                Uri[] syncUrls;
                if (given is null)
                {
                    tempDir = Path.Combine(Path.GetTempPath(), "lockstep-bench-" + Guid.NewGuid().ToString("N"));
                    app = await StartServerAsync(tempDir, sync, cancellationToken);
                    syncUrls = [new Uri(app.Urls.First().Replace("http://", "ws://", StringComparison.Ordinal) + "/v1/sync")];
                    progress.WriteLine($"server: in-process on {app.Urls.First()}, synchronous={sync.ToString().ToLowerInvariant()}");
                }
                else
                {
                    syncUrls = [.. given.Select(ToSyncUrl)];
                    progress.WriteLine($"server{(syncUrls.Length > 1 ? "s" : "")}: {string.Join(", ", syncUrls.Select(u => u.ToString()))}");
                }
                progress.WriteLine($"encoding: {encodingName} ({codec.SubProtocol})");
                var runner = new BenchRunner(syncUrls, codec, progress);
                progress.WriteLine($"phase 1: {w} single-field writes from {ws} connections …");
                var perSecond = await runner.MeasureThroughputAsync(w, ws, cancellationToken);
                progress.WriteLine($"phase 2: {r} readers, one writer at {rt} writes/s for {d} s …");
                var (latency, bytes, updates) = await runner.MeasureLatencyAsync(r, rt, TimeSpan.FromSeconds(d), cancellationToken);
                progress.WriteLine($"phase 3: one subscriber's snapshot of {BenchRunner.SnapshotDocuments:N0} documents …");
                var snapshot = await runner.MeasureSnapshotAsync(cancellationToken);
                var outcome = new BenchResult(w, ws, Math.Round(perSecond), r, rt, updates, latency, Math.Round(bytes, 1), snapshot, encodingName,
                    given is null ? sync.ToString().ToLowerInvariant() : "server's", MachineInfo.Current);
                if (result.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(outcome, Json));
                }
                else
                {
                    Print(outcome);
                }
                return 0;
            }
            catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or HttpRequestException or TimeoutException or IOException)
            {
                Console.Error.WriteLine($"lockstep bench: {e.Message}");
                return ServerClient.ExitUnreachable;
            }
            finally
            {
                if (app is not null)
                {
                    await app.StopAsync(CancellationToken.None);
                    await app.DisposeAsync();
                    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                }
                if (tempDir is not null)
                {
                    Directory.Delete(tempDir, recursive: true);
                }
            }
        });
        return command;
    }

    private static Uri[] ParseUrls(System.CommandLine.Parsing.ArgumentResult result)
    {
        var urls = new List<Uri>();
        foreach (var token in result.Tokens)
        {
            if (Uri.TryCreate(token.Value, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" or "ws" or "wss")
            {
                urls.Add(parsed);
            }
            else
            {
                result.AddError($"'{token.Value}' is not an absolute http:// or ws:// URL.");
            }
        }
        return [.. urls];
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

    private static async Task<WebApplication> StartServerAsync(string dataDir, SqliteSynchronous synchronous, CancellationToken cancellationToken)
    {
        var app = ServerHost.Build(Path.Combine(dataDir, "lockstep.db"), "http://127.0.0.1:0", synchronous, quiet: true);
        await app.StartAsync(cancellationToken);
        return app;
    }

    private static void Print(BenchResult r)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"durable writes/s      {r.WritesPerSec,12:N0}   ({r.Writes} writes, {r.Writers} connections, synchronous={r.Synchronous})"));
        Console.WriteLine(string.Create(c, $"write → seen, ms      p50 {r.LatencyMs.P50:F2}  p90 {r.LatencyMs.P90:F2}  p99 {r.LatencyMs.P99:F2}  max {r.LatencyMs.Max:F2}   ({r.Updates} writes at {r.Rate}/s, {r.Readers} readers)"));
        Console.WriteLine(string.Create(c, $"encoding              {r.Encoding,12}"));
        Console.WriteLine(string.Create(c, $"bytes/update/reader   {r.BytesPerUpdatePerReader,12:F1}   (WebSocket payload + frame header of each change)"));
        Console.WriteLine(string.Create(c, $"snapshot bytes        {r.Snapshot.Bytes,12:N0}   ({r.Snapshot.Documents:N0} documents in {r.Snapshot.Frames} frames; their JSON alone {r.Snapshot.DocumentJsonBytes:N0} B)"));
        Console.WriteLine(string.Create(c, $"machine               {r.Machine.Cores} cores, {r.Machine.Os}, {r.Machine.Runtime}"));
    }
}
