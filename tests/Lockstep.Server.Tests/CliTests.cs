using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The `lockstep` tools as a user runs them: real processes against a real `lockstep serve`.</summary>
public sealed class CliTests : IAsyncLifetime
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "lockstep-cli-" + Guid.NewGuid().ToString("N"));
    private ServerProcess _server = null!;

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync(_dataDir, null, "--strict", "approvals");

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    private static async Task<(int Exit, string Out, string Err)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        info.ArgumentList.Add(ServerProcess.CliPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
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

    private string Url => _server.HttpUrl.ToString();

    [Fact]
    public async Task An_API_key_made_by_apikey_new_and_configured_with_config_is_required_and_accepted()
    {
        var made = await RunAsync("apikey", "new", "--name", "billing", "--scope", "read", "--scope", "write");
        Assert.Equal(0, made.Exit);
        var lines = made.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var key = lines.Single(l => l.StartsWith("key:", StringComparison.Ordinal))["key:".Length..].Trim();
        var entry = JsonNode.Parse(lines.Single(l => l.StartsWith("entry:", StringComparison.Ordinal))["entry:".Length..])!;
        Assert.StartsWith("lsk_", key, StringComparison.Ordinal);
        Assert.DoesNotContain(key, made.Out.Replace("key:   " + key, "", StringComparison.Ordinal), StringComparison.Ordinal); // only the hash goes in the entry

        var dir = Path.Combine(Path.GetTempPath(), "lockstep-cli-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var config = Path.Combine(dir, "lockstep.json");
            await File.WriteAllTextAsync(config, new JsonObject { ["Lockstep"] = new JsonObject { ["Auth"] = new JsonObject { ["ApiKeys"] = new JsonArray(entry.DeepClone()) } } }.ToJsonString());
            await using var secured = await ServerProcess.StartAsync(Path.Combine(dir, "data"), null, "--config", config);
            var url = secured.HttpUrl.ToString();

            var anonymous = await RunAsync("put", "tasks", "t1", """{"title":"x"}""", "--url", url);
            Assert.NotEqual(0, anonymous.Exit);
            Assert.Contains("unauthorized", anonymous.Err + anonymous.Out, StringComparison.Ordinal);

            var withKey = new Dictionary<string, string> { ["LOCKSTEP_TOKEN"] = key };
            Assert.Equal(0, (await RunAsync(withKey, "put", "tasks", "t1", """{"title":"x"}""", "--url", url)).Exit);
            var got = await RunAsync(withKey, "get", "tasks", "t1", "--url", url);
            Assert.Equal(0, got.Exit);
            Assert.Equal("x", (string?)JsonNode.Parse(got.Out)!["title"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Serve_beyond_loopback_without_authentication_refuses_to_start_unless_opened()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-cli-open-" + Guid.NewGuid().ToString("N"));
        try
        {
            var refused = await RunAsync("serve", "--data", dir, "--urls", $"http://0.0.0.0:{ServerProcess.FreePort()}", "--samples", "off");
            Assert.Equal(2, refused.Exit);
            Assert.Contains("--open", refused.Err, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Serve_given_Kestrel_endpoints_beyond_loopback_in_config_refuses_before_accepting_a_connection()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-cli-kestrel-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var port = ServerProcess.FreePort();
        var config = Path.Combine(dir, "config.json");
        await File.WriteAllTextAsync(config, """{"Kestrel":{"Endpoints":{"Http":{"Url":"http://0.0.0.0:PORT"}}}}""".Replace("PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        try
        {
            // Connect over and over while the server starts: the address it would bind (0.0.0.0 holds
            // 127.0.0.1) must never take a connection.
            using var stop = new CancellationTokenSource();
            var accepted = 0;
            var prober = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var tcp = new System.Net.Sockets.TcpClient();
                    try
                    {
                        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port, stop.Token);
                        Interlocked.Increment(ref accepted);
                    }
                    catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
                    {
                    }
                    await Task.Delay(5, CancellationToken.None);
                }
            });
            var refused = await RunAsync("serve", "--data", Path.Combine(dir, "data"), "--config", config, "--samples", "off");
            await stop.CancelAsync();
            await prober;
            Assert.Equal(2, refused.Exit);
            Assert.Contains($"0.0.0.0:{port}", refused.Err, StringComparison.Ordinal);
            Assert.Contains("--open", refused.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("listening on", refused.Out, StringComparison.Ordinal);
            Assert.Equal(0, accepted);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_samples_folder_serves_nothing_through_a_symbolic_link()
    {
        var checkout = Path.Combine(Path.GetTempPath(), "lockstep-cli-samples-" + Guid.NewGuid().ToString("N"));
        var outside = checkout + "-outside";
        Directory.CreateDirectory(Path.Combine(checkout, "samples", "web", "pages"));
        Directory.CreateDirectory(Path.Combine(checkout, "clients", "typescript", "dist"));
        Directory.CreateDirectory(outside);
        await File.WriteAllTextAsync(Path.Combine(checkout, "clients", "typescript", "dist", "index.js"), "export {};");
        await File.WriteAllTextAsync(Path.Combine(checkout, "samples", "web", "pages", "ok.html"), "<p>inside</p>");
        await File.WriteAllTextAsync(Path.Combine(outside, "secret.txt"), "outside the samples");
        File.CreateSymbolicLink(Path.Combine(checkout, "samples", "web", "secret.txt"), Path.Combine(outside, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(checkout, "samples", "web", "out"), outside);
        Directory.CreateSymbolicLink(Path.Combine(checkout, "clients", "typescript", "dist", "out"), outside);
        try
        {
            await using var server = await ServerProcess.StartAsync(Path.Combine(checkout, "data"), null, "--samples", checkout);
            using var http = new HttpClient { BaseAddress = server.HttpUrl };
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/samples/pages/ok.html")).StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/samples/lib/index.js")).StatusCode);
            foreach (var path in new[] { "/samples/secret.txt", "/samples/out/secret.txt", "/samples/lib/out/secret.txt", "/samples/pages/../secret.txt" })
            {
                using var response = await http.GetAsync(path);
                Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
                Assert.DoesNotContain("outside", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(checkout, recursive: true);
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task Put_get_patch_and_tail_work_and_a_stale_version_fails_with_its_code()
    {
        var put = await RunAsync("put", "tasks", "t1", """{"title":"x"}""", "--url", Url);
        Assert.Equal(0, put.Exit);
        Assert.Equal(1, (long)JsonNode.Parse(put.Out)!["v"]!);

        var get = await RunAsync("get", "tasks", "t1", "--url", Url);
        Assert.Equal(0, get.Exit);
        Assert.Equal("x", (string?)JsonNode.Parse(get.Out)!["title"]);
        Assert.Contains("version 1", get.Err, StringComparison.Ordinal);

        var stale = await RunAsync("patch", "tasks", "t1", """{"done":true}""", "--if-version", "7", "--url", Url);
        Assert.NotEqual(0, stale.Exit);
        Assert.Contains("version_conflict", stale.Err, StringComparison.Ordinal);

        var patch = await RunAsync("patch", "tasks", "t1", """{"done":true}""", "--if-version", "1", "--url", Url);
        Assert.Equal(0, patch.Exit);

        var tail = await RunAsync("tail", "--once", "--after", "0", "--url", Url);
        Assert.Equal(0, tail.Exit);
        var lines = tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([1L, 2L], lines.Select(l => (long)l["seq"]!));
        Assert.True((bool?)lines[1]["set"]!["done"]);

        var status = await RunAsync("status", "--url", Url);
        Assert.Equal(0, status.Exit);
        Assert.Contains("head        2", status.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_applies_strict_collections()
    {
        Assert.Equal(0, (await RunAsync("put", "approvals", "a1", """{"status":"draft"}""", "--url", Url)).Exit);
        var blind = await RunAsync("put", "approvals", "a1", """{"status":"approved"}""", "--url", Url);
        Assert.NotEqual(0, blind.Exit);
        Assert.Contains("precondition_required", blind.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("put", "tasks", "t1", "not json")]
    [InlineData("put", "tasks", "t1", "[1,2]")]
    [InlineData("get", "tasks")]
    [InlineData("get", "tasks", "t1", "--url", "not-a-url")]
    public async Task Bad_input_exits_non_zero_with_a_message(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.NotEqual(0, result.Exit);
        Assert.False(string.IsNullOrWhiteSpace(result.Err), "a message on standard error");
    }

    [Fact]
    public async Task An_unreachable_server_is_reported_plainly()
    {
        var result = await RunAsync("get", "tasks", "t1", "--url", $"http://127.0.0.1:{ServerProcess.FreePort()}");
        Assert.Equal(3, result.Exit);
        Assert.Contains("cannot reach the server", result.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("json", 70)]
    [InlineData("msgpack", 32)]
    public async Task Bench_prints_one_json_object_with_sane_figures(string encoding, double maxBytesPerUpdate)
    {
        var result = await RunAsync("bench", "--url", Url, "--writes", "400", "--writers", "4", "--readers", "2", "--rate", "200", "--duration", "1", "--warmup", "0", "--encoding", encoding, "--json");
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.True((double)json["writesPerSec"]! > 0);
        Assert.Equal(400, (int)json["writes"]!);
        Assert.Equal(2, (int)json["readers"]!);
        var latency = json["latencyMs"]!;
        Assert.True((double)latency["p50"]! > 0);
        Assert.True((double)latency["p50"]! <= (double)latency["p99"]!);
        Assert.Equal(400, (int)latency["samples"]!);
        Assert.Equal(encoding, (string?)json["encoding"]);
        Assert.Equal("server's", (string?)json["synchronous"]);
        Assert.Null(json["serverCpuUsPerWrite"]); // --url without --server-pid: not guessed
        // A one-field change to one reader: the frame's payload plus its 2-byte header.
        Assert.InRange((double)json["bytesPerUpdatePerReader"]!, 10, maxBytesPerUpdate);
        var snapshot = json["snapshot"]!;
        Assert.Equal(1000, (int)snapshot["documents"]!);
        Assert.InRange((int)snapshot["frames"]!, 1, 1000);
        var documentJson = (long)snapshot["documentJsonBytes"]!;
        Assert.InRange(documentJson, 25_000, 40_000);
        // JSON carries the documents as they are and adds ids, versions and field names; MessagePack, ids and
        // versions included, still comes in under the documents' own JSON.
        if (encoding == "json")
        {
            Assert.InRange((long)snapshot["bytes"]!, documentJson + 1, documentJson * 3);
        }
        else
        {
            Assert.InRange((long)snapshot["bytes"]!, documentJson / 2, documentJson);
        }
    }

    [Fact]
    public async Task Bench_without_a_url_runs_its_own_server_as_a_child_process_and_kills_it_at_the_end()
    {
        var result = await RunAsync("bench", "--scenario", "throughput", "--writes", "300", "--writers", "3", "--synchronous", "normal", "--json");
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.Equal("throughput", (string?)json["scenario"]);
        Assert.Equal(300, (int)json["writes"]!);
        Assert.Equal(300, (long)json["acknowledged"]!);
        Assert.True((double)json["writesPerSec"]! > 0);
        // Read from the child's /proc: present, and not negative (CPU time moves in 10 ms ticks, so it may be 0 on a tiny run).
        Assert.True((double)json["serverCpuUsPerWrite"]! >= 0);
        var server = json["server"]!;
        Assert.Equal("sqlite", (string?)server["store"]);
        Assert.Equal("normal", (string?)server["synchronous"]);
        var pid = (int)server["pids"]!.AsArray().Single()!;
        Assert.NotEqual(Environment.ProcessId, pid);
        Assert.False(Directory.Exists($"/proc/{pid}"), "the bench's server process is gone");
    }

    [Fact]
    public async Task Bench_stopped_by_SIGTERM_kills_its_server_process_and_removes_its_data()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { ServerProcess.CliPath, "bench", "--scenario", "latency", "--readers", "1", "--rate", "50", "--duration", "120" })
        {
            info.ArgumentList.Add(arg);
        }
        using var bench = Process.Start(info)!;
        var pid = 0;
        string? dataDir = null;
        try
        {
            // "server: child `lockstep serve` on http://127.0.0.1:PORT/ (pid N), …"
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (pid == 0 && DateTime.UtcNow < deadline && await bench.StandardOutput.ReadLineAsync() is { } line)
            {
                var at = line.IndexOf("(pid ", StringComparison.Ordinal);
                if (line.StartsWith("server: child", StringComparison.Ordinal) && at >= 0)
                {
                    pid = int.Parse(line[(at + 5)..line.IndexOf(')', at)], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            Assert.True(pid > 0, "the bench named its server's pid");
            var commandLine = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Split('\0');
            dataDir = commandLine[Array.IndexOf(commandLine, "--data") + 1];
            Assert.True(Directory.Exists(dataDir));
            await Task.Delay(500);
            using (var kill = Process.Start("kill", ["-TERM", bench.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await bench.WaitForExitAsync(timeout.Token);
            Assert.False(Directory.Exists($"/proc/{pid}"), "the server process is gone");
            Assert.False(Directory.Exists(dataDir), "its data directory is removed");
        }
        finally
        {
            if (!bench.HasExited)
            {
                bench.Kill(entireProcessTree: true);
            }
            if (pid > 0 && Directory.Exists($"/proc/{pid}"))
            {
                Process.GetProcessById(pid).Kill();
            }
            if (dataDir is not null && Directory.Exists(Path.GetDirectoryName(dataDir)))
            {
                Directory.Delete(Path.GetDirectoryName(dataDir)!, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Bench_reads_a_running_servers_cpu_only_when_given_its_pid()
    {
        var without = await RunAsync("bench", "--scenario", "throughput", "--url", Url, "--writes", "100", "--writers", "2", "--json");
        Assert.True(without.Exit == 0, without.Err);
        var json = JsonNode.Parse(without.Out)!;
        Assert.Null(json["serverCpuUsPerWrite"]);
        Assert.Null(json["server"]!["pids"]);

        var with = await RunAsync("bench", "--scenario", "throughput", "--url", Url, "--server-pid", _server.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--writes", "100", "--writers", "2", "--json");
        Assert.True(with.Exit == 0, with.Err);
        json = JsonNode.Parse(with.Out)!;
        Assert.True((double)json["serverCpuUsPerWrite"]! >= 0);
        Assert.Equal(_server.Pid, (int)json["server"]!["pids"]![0]!);
    }

    private string ServerPid => _server.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void AssertLatencies(JsonNode latency, long samples)
    {
        Assert.Equal(samples, (long)latency["samples"]!);
        Assert.True((double)latency["p50"]! > 0);
        Assert.True((double)latency["p50"]! <= (double)latency["p99"]!);
        Assert.True((double)latency["p99"]! <= (double)latency["max"]!);
    }

    [Fact]
    public async Task Bench_fanout_delivers_every_write_to_every_subscriber_and_reports_server_cpu_per_frame()
    {
        var result = await RunAsync("bench", "--scenario", "fanout", "--url", Url, "--server-pid", ServerPid, "--subscribers", "20", "--rate", "20", "--duration", "1", "--warmup", "0.5", "--json");
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.Equal("fanout", (string?)json["scenario"]);
        Assert.Equal(20, (int)json["subscribed"]!);
        Assert.Equal(20, (int)json["writes"]!);
        Assert.Equal(400, (long)json["framesExpected"]!);
        Assert.Equal(400, (long)json["framesDelivered"]!);
        AssertLatencies(json["latencyMs"]!, 400);
        Assert.InRange((double)json["bytesPerFrame"]!, 10, 200);
        Assert.True((double)json["serverCpuUsPerFrame"]! >= 0);
        Assert.True((long)json["serverRssBytes"]! > 0);
        Assert.Equal(1, (int)json["sourceAddresses"]!); // 127.0.0.2
        Assert.Null(json["limitedBy"]);
    }

    [Fact]
    public async Task Bench_connections_opens_idle_subscribers_and_reports_memory_per_connection_and_the_time_to_reach_them()
    {
        var result = await RunAsync("bench", "--scenario", "connections", "--url", Url, "--server-pid", ServerPid, "--connections", "50", "--json");
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.Equal(50, (int)json["requested"]!);
        Assert.Equal(50, (int)json["connections"]!);
        Assert.Null(json["limitedBy"]);
        Assert.True((long)json["openFilesHard"]! >= (long)json["openFilesSoft"]!);
        Assert.True((long)json["serverRssBytesBefore"]! > 0);
        Assert.NotNull(json["rssBytesPerConnection"]);
        Assert.True((long)json["managedHeapBytesBefore"]! > 0); // from /v1/status's process object
        Assert.NotNull(json["managedHeapBytesPerConnection"]);
        Assert.Equal(5, (int)json["writes"]!);
        AssertLatencies(json["latencyMs"]!, 250);
        Assert.True((double)json["reachedAllMs"]!["p50"]! > 0);
        Assert.True((double)json["reachedAllMs"]!["p50"]! <= (double)json["reachedAllMs"]!["max"]!);
    }

    [Fact]
    public async Task Bench_connections_stops_at_the_open_files_limit_and_says_so()
    {
        // bash's ulimit -n lowers the soft and the hard limit, so the runtime cannot raise it back.
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", "ulimit -n 300 && exec dotnet \"$@\"", "bash", ServerProcess.CliPath, "bench", "--scenario", "connections", "--url", Url, "--connections", "500", "--json" })
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        var json = JsonNode.Parse(await stdout)!;
        Assert.Equal(500, (int)json["requested"]!);
        Assert.Equal(300, (long)json["openFilesSoft"]!);
        Assert.Equal(100, (int)json["connections"]!); // 300 less what the process holds besides its connections
        Assert.Contains("open-files limit is 300", (string?)json["limitedBy"], StringComparison.Ordinal);
        AssertLatencies(json["latencyMs"]!, 500);
    }

    [Fact]
    public async Task Bench_catchup_resumes_from_cursor_zero_and_receives_every_change()
    {
        var result = await RunAsync("bench", "--scenario", "catchup", "--url", Url, "--server-pid", ServerPid, "--changes", "2000", "--writers", "4", "--json");
        Assert.True(result.Exit == 0, result.Err);
        var json = JsonNode.Parse(result.Out)!;
        Assert.Equal(2000, (int)json["changes"]!);
        Assert.Equal(2000, (long)json["written"]!["acknowledged"]!);
        Assert.True((bool)json["resumable"]!);
        Assert.Equal(2000, (long)json["changesReceived"]!);
        Assert.True((double)json["changesPerSec"]! > 0);
        Assert.InRange((double)json["bytesPerChange"]!, 10, 200);
        Assert.True((long)json["serverRssPeakBytes"]! >= (long)json["serverRssBytesBefore"]!);
        Assert.True((double)json["serverCpuUsPerChange"]! >= 0);
    }

    [Theory]
    [InlineData("--nodes", "2")]
    [InlineData("--server-pid", "1")]
    public async Task Bench_refuses_options_that_do_not_go_together(string option, string value)
    {
        var result = await RunAsync("bench", option, value);
        Assert.Equal(2, result.Exit);
        Assert.Contains(option, result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_refuses_an_unknown_encoding()
    {
        var result = await RunAsync("bench", "--url", Url, "--encoding", "xml");
        Assert.NotEqual(0, result.Exit);
        Assert.Contains("xml", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jobs_can_be_enqueued_inspected_and_their_dead_letters_replayed()
    {
        var enqueue = await RunAsync("jobs", "enqueue", "mail", """{"to":"ana"}""", "--lane", "high", "--key", "welcome-ana", "--max-attempts", "1", "--url", Url);
        Assert.Equal(0, enqueue.Exit);
        var job = JsonNode.Parse(enqueue.Out)!;
        Assert.Equal("high", (string?)job["lane"]);
        var id = (long)job["id"]!;
        Assert.True((bool)JsonNode.Parse((await RunAsync("jobs", "enqueue", "mail", "1", "--key", "welcome-ana", "--url", Url)).Out)!["duplicate"]!);
        Assert.NotEqual(0, (await RunAsync("jobs", "enqueue", "mail", "{oops", "--url", Url)).Exit);

        using var http = new HttpClient { BaseAddress = _server.HttpUrl };
        using (var claim = await http.PostAsync("/v1/queues/mail/claim", new StringContent("{}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(id, (long)JsonNode.Parse(await claim.Content.ReadAsStringAsync())!["jobs"]![0]!["id"]!);
        }
        using (var fail = await http.PostAsync($"/v1/jobs/{id}/fail", new StringContent("""{"token":1,"error":"no route"}""", System.Text.Encoding.UTF8, "application/json")))
        {
            fail.EnsureSuccessStatusCode();
        }

        var stats = await RunAsync("jobs", "stats", "mail", "--url", Url);
        Assert.Equal(0, stats.Exit);
        Assert.Contains("dead    1", stats.Out, StringComparison.Ordinal);
        var dead = await RunAsync("jobs", "dead", "mail", "--url", Url);
        Assert.Equal("no route", (string?)JsonNode.Parse(dead.Out.Trim())!["lastError"]);
        var replay = await RunAsync("jobs", "replay", "mail", "--id", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--url", Url);
        Assert.Equal(0, replay.Exit);
        Assert.Equal(1, (int)JsonNode.Parse(replay.Out)!["replayed"]!);
        Assert.Contains("ready   1", (await RunAsync("jobs", "stats", "mail", "--url", Url)).Out, StringComparison.Ordinal);
    }
}
