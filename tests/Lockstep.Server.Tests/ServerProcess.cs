using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lockstep.Server.Tests;

/// <summary>The real `lockstep serve` in its own process, killed by its own PID.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri HttpUrl => new($"http://127.0.0.1:{Port}");

    public Uri SyncUrl => new($"ws://127.0.0.1:{Port}/v1/sync");

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Every line the server wrote to stdout and stderr so far.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

    public static string CliPath
    {
        get
        {
            // tests/Lockstep.Server.Tests/bin/<Configuration>/net10.0 → src/Lockstep.Cli/bin/<Configuration>/net10.0/lockstep.dll
            var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
            var configuration = baseDir.Parent!.Name;
            var root = baseDir;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
            {
                root = root.Parent;
            }
            var path = Path.Combine(root!.FullName, "src", "Lockstep.Cli", "bin", configuration, baseDir.Name, "lockstep.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build src/Lockstep.Cli first.", path);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static Task<ServerProcess> StartAsync(string dataDir, int? port = null, params string[] extra) =>
        StartAsync(dataDir, new Dictionary<string, string>(), port, extra);

    /// <summary>Starts `lockstep serve` with extra environment variables (for example <c>Lockstep__RetainedChanges</c>).</summary>
    public static Task<ServerProcess> StartAsync(string dataDir, IReadOnlyDictionary<string, string> environment, int? port, params string[] extra) =>
        StartCoreAsync(dataDir, environment, port, openFilesLimit: null, extra);

    /// <summary>Starts `lockstep serve` with its open-files limit lowered to <paramref name="openFilesLimit"/> (bash's <c>ulimit -n</c>, then exec).</summary>
    public static Task<ServerProcess> StartWithOpenFilesLimitAsync(string dataDir, int openFilesLimit, params string[] extra) =>
        StartCoreAsync(dataDir, new Dictionary<string, string>(), port: null, openFilesLimit, extra);

    private static async Task<ServerProcess> StartCoreAsync(string dataDir, IReadOnlyDictionary<string, string> environment, int? port, int? openFilesLimit, string[] extra)
    {
        var p = port ?? FreePort();
        var info = new ProcessStartInfo(openFilesLimit is null ? "dotnet" : "bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        if (openFilesLimit is { } limit)
        {
            // $0 is the "dotnet" after the script; exec keeps the PID, so killing it kills the server.
            foreach (var arg in new[] { "-c", $"ulimit -n {limit} && exec \"$0\" \"$@\"", "dotnet" })
            {
                info.ArgumentList.Add(arg);
            }
        }
        foreach (var arg in new[] { CliPath, "serve", "--urls", $"http://127.0.0.1:{p}", "--data", dataDir }.Concat(extra))
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info)!;
        var server = new ServerProcess(process, p);
        process.OutputDataReceived += (_, e) => server.Record(e.Data);
        process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"lockstep serve exited with {process.ExitCode}");
            }
            try
            {
                var response = await http.GetAsync(new Uri(server.HttpUrl, "/healthz"));
                if (response.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new TimeoutException("lockstep serve did not become healthy in 30 s");
    }

    private void Record(string? line)
    {
        if (line is not null)
        {
            Output.Enqueue(line);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
