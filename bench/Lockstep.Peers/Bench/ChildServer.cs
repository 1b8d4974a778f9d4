using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Lockstep.Peers.Serve;

namespace Lockstep.Peers.Bench;

/// <summary>
/// The server a bench run measures, as a child process on a free loopback port and a temporary data directory:
/// <c>peer serve</c> of this build, or this build's <c>lockstep serve</c> (SQLite, <c>synchronous=full</c>). Separate so
/// that its CPU and RSS can be read from /proc without the client's. Disposing kills it by its own PID and removes the
/// directory; so do SIGINT (Ctrl+C), SIGTERM, SIGHUP and the bench's exit while it runs.
/// </summary>
internal sealed class ChildServer : IAsyncDisposable
{
    private const string LockstepListening = "lockstep: listening on ";
    private readonly Process _process;
    private readonly string _dataDir;
    private readonly List<string> _output = [];
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _disposed;

    private ChildServer(Process process, string dataDir)
    {
        _process = process;
        _dataDir = dataDir;
    }

    /// <summary>http://127.0.0.1:PORT.</summary>
    public Uri Url { get; private set; } = null!;

    public int Pid => _process.Id;

    public static async Task<ChildServer> StartAsync(string kind, bool messagePack, CancellationToken cancellationToken)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "lockstep-peer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        ProcessStartInfo info;
        string prefix;
        if (kind == "lockstep")
        {
            info = DotnetOrApphost(LockstepPath());
            foreach (var arg in new[] { "serve", "--urls", "http://127.0.0.1:0", "--data", dataDir, "--samples", "off", "--synchronous", "full" })
            {
                info.ArgumentList.Add(arg);
            }
            prefix = LockstepListening;
        }
        else
        {
            info = DotnetOrApphost(Environment.ProcessPath is { } self && !IsDotnet(self) ? self : typeof(ChildServer).Assembly.Location);
            foreach (var arg in new[] { "serve", "--kind", kind, "--urls", "http://127.0.0.1:0", "--data", dataDir })
            {
                info.ArgumentList.Add(arg);
            }
            if (messagePack)
            {
                info.ArgumentList.Add("--messagepack");
            }
            prefix = PeerServer.ListeningPrefix;
        }
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        var process = Process.Start(info) ?? throw new IOException($"could not start the {kind} server");
        var server = new ChildServer(process, dataDir);
        AppDomain.CurrentDomain.ProcessExit += server.OnProcessExit;
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            server._signals.Add(PosixSignalRegistration.Create(signal, _ => server.Kill()));
        }
        try
        {
            process.StandardInput.Close();
            var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not { } line)
                {
                    return;
                }
                server.Record(line);
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    listening.TrySetResult(new Uri(line[prefix.Length..].Split([';', ',', ' '], 2)[0]));
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    server.Record(line);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var started = await Task.WhenAny(listening.Task, process.WaitForExitAsync(cancellationToken), Task.Delay(TimeSpan.FromSeconds(60), cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (started != listening.Task)
            {
                throw new IOException($"the {kind} server {(process.HasExited ? $"exited with {process.ExitCode}" : "did not start listening within 60 s")}: {server.Tail()}");
            }
            server.Url = await listening.Task;
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>This build's <c>lockstep.dll</c>: where the build put it (see Lockstep.Peers.csproj), or <c>LOCKSTEP_CLI</c>.</summary>
    private static string LockstepPath()
    {
        var path = Environment.GetEnvironmentVariable("LOCKSTEP_CLI")
            ?? typeof(ChildServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "LockstepCli")?.Value;
        if (path is null || !File.Exists(path))
        {
            throw new IOException($"cannot find lockstep.dll (looked at {path ?? "nothing"}): build Lockstep.slnx, or set LOCKSTEP_CLI to its path");
        }
        return path;
    }

    private static bool IsDotnet(string path) => Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase);

    /// <summary>An apphost runs as itself; a .dll through the <c>dotnet</c> that runs this process (or the one on PATH).</summary>
    private static ProcessStartInfo DotnetOrApphost(string path)
    {
        if (!path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            return new ProcessStartInfo(path);
        }
        var info = new ProcessStartInfo(Environment.ProcessPath is { } self && IsDotnet(self) ? self : "dotnet");
        info.ArgumentList.Add(path);
        return info;
    }

    private void Record(string line)
    {
        lock (_output)
        {
            _output.Add(line);
            if (_output.Count > 50)
            {
                _output.RemoveAt(0);
            }
        }
    }

    private string Tail()
    {
        lock (_output)
        {
            return string.Join(Environment.NewLine, _output);
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Kill();

    /// <summary>Kills the server by its PID, waits for it to go, and removes its directory: at the end, and on a signal or the bench's exit.</summary>
    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // Already gone and reaped.
        }
        try
        {
            if (Directory.Exists(_dataDir))
            {
                Directory.Delete(_dataDir, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
