using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Peers.Tests;

/// <summary>
/// `peer bench` of each kind, tiny (2 readers, 50 writes in 1 s): counts and the presence and plausibility of the
/// figures, never their size against a clock — a benchmark is not a timed test.
/// </summary>
public sealed class PeerBenchTests
{
    [Theory]
    [InlineData("signalr", "json")]
    [InlineData("signalr", "messagepack", "--messagepack")]
    [InlineData("polling", "http-poll")]
    [InlineData("polling", "http-long-poll", "--long-poll")]
    [InlineData("lockstep", "json")]
    [InlineData("lockstep", "messagepack", "--messagepack")]
    public async Task Every_reader_sees_every_update_and_the_figures_are_present(string kind, string protocol, params string[] extra)
    {
        var result = await RunAsync(["bench", "--kind", kind, "--readers", "2", "--rate", "50", "--duration", "1", "--json", .. extra]);
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.Equal(kind, (string?)json["kind"]);
        Assert.Equal(protocol, (string?)json["protocol"]);
        Assert.Equal(50, (int)json["updates"]!);
        Assert.Equal(2, (int)json["readers"]!);
        Assert.Equal(100, (long)json["framesDelivered"]!);
        var latency = json["latencyMs"]!;
        Assert.Equal(100, (long)latency["samples"]!);
        Assert.True((double)latency["p50"]! > 0);
        Assert.True((double)latency["p50"]! <= (double)latency["p99"]!);
        Assert.True((double)latency["p99"]! <= (double)latency["max"]!);
        // Every change carries the 40-character value at least; polling's idle answers and headers add more.
        Assert.InRange((double)json["bytesPerUpdatePerReader"]!, 40, 10_000);
        // Polling readers send a request per poll; the socket readers send nothing or pings.
        Assert.InRange((double)json["sentBytesPerUpdatePerReader"]!, kind == "polling" ? 1 : 0, 10_000);
        Assert.True((double)json["serverCpuUsPerFrame"]! >= 0);
        Assert.InRange((long)json["serverRssBytes"]!, 10L << 20, 4L << 30);
        Assert.Equal(kind == "polling" && protocol == "http-poll" ? 100 : null, (double?)json["pollIntervalMs"]);
        AssertServerGone(json);
    }

    [Theory]
    [InlineData("signalr")]
    [InlineData("polling")]
    [InlineData("lockstep")]
    public async Task Ack_mode_counts_each_durable_ack_once(string kind)
    {
        var result = await RunAsync(["bench", "--kind", kind, "--ack", "--duration", "1", "--json"]);
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        var writes = (int)json["writes"]!;
        Assert.True(writes > 0);
        Assert.Equal(writes, (long)json["ackMs"]!["samples"]!);
        Assert.True((double)json["writesPerSec"]! > 0);
        Assert.True((double)json["ackMs"]!["p50"]! > 0);
        Assert.True((double)json["serverCpuUsPerWrite"]! >= 0);
        AssertServerGone(json);
    }

    [Fact]
    public async Task Messagepack_is_refused_for_polling()
    {
        var result = await RunAsync(["bench", "--kind", "polling", "--messagepack", "--duration", "1"]);
        Assert.Equal(2, result.Exit);
        Assert.Contains("--messagepack is for signalr and lockstep", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_killed_with_sigterm_kills_its_server_and_removes_its_directory()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in new[] { PeerPath, "bench", "--kind", "signalr", "--readers", "1", "--rate", "20", "--duration", "120" })
        {
            info.ArgumentList.Add(arg);
        }
        using var bench = Process.Start(info)!;
        try
        {
            bench.StandardInput.Close();
            // "server: signalr (json) on http://127.0.0.1:PORT/ (pid N); load average …"
            var line = await bench.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var match = System.Text.RegularExpressions.Regex.Match(line ?? "", @"\(pid (\d+)\)");
            Assert.True(match.Success, $"the bench named its server's pid: {line}");
            var pid = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var dataDir = Directory.GetDirectories(Path.GetTempPath(), "lockstep-peer-*")
                .Single(d => File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains(Path.GetFileName(d), StringComparison.Ordinal));
            using (var kill = Process.Start("kill", ["-TERM", bench.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await bench.WaitForExitAsync(timeout.Token);
            Assert.False(Directory.Exists($"/proc/{pid}"), "the server process is gone");
            Assert.False(Directory.Exists(dataDir), "the server's directory is removed");
        }
        finally
        {
            if (!bench.HasExited)
            {
                bench.Kill(entireProcessTree: true);
            }
        }
    }

    private static void AssertServerGone(JsonNode json)
    {
        var pid = (int)json["run"]!["serverPid"]!;
        Assert.True(pid > 0);
        Assert.False(Directory.Exists($"/proc/{pid}"), "the bench killed its server process");
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add(PeerPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>tests/Lockstep.Peers.Tests/bin/&lt;Configuration&gt;/net10.0 → bench/Lockstep.Peers/bin/&lt;Configuration&gt;/net10.0/peer.dll.</summary>
    private static string PeerPath
    {
        get
        {
            var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
            var root = baseDir;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
            {
                root = root.Parent;
            }
            var path = Path.Combine(root!.FullName, "bench", "Lockstep.Peers", "bin", baseDir.Parent!.Name, baseDir.Name, "peer.dll");
            Assert.True(File.Exists(path), $"build bench/Lockstep.Peers first ({path})");
            return path;
        }
    }
}
