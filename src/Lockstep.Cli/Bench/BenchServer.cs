using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Lockstep.Storage.Sqlite;

namespace Lockstep.Cli.Bench;

/// <summary>How the bench starts its own server: SQLite with a durability, or N nodes over one PostgreSQL database.</summary>
/// <param name="Synchronous">SQLite's durability (unused with PostgreSQL).</param>
/// <param name="Postgres">An Npgsql connection string, or null for SQLite.</param>
/// <param name="Nodes">Nodes to start over <paramref name="Postgres"/> (SQLite is always one).</param>
internal sealed record BenchServerOptions(SqliteSynchronous Synchronous, string? Postgres, int Nodes);

/// <summary>
/// The servers the bench starts itself: each a separate child process, <c>lockstep serve</c> of this very build, on a
/// free loopback port and a temporary data directory — separate so that its CPU and memory can be read from /proc
/// without the client's. Disposing kills each by its own PID and removes the directory; so does the process
/// receiving SIGINT (Ctrl+C), SIGTERM or SIGHUP, or exiting, while they run.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private const string ListeningPrefix = "lockstep: listening on ";
    private readonly string _dataDir;
    private readonly List<Node> _nodes = [];
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _disposed;

    private BenchServer(string dataDir)
    {
        _dataDir = dataDir;
    }

    /// <summary>The nodes' base URLs (http://127.0.0.1:PORT).</summary>
    public IReadOnlyList<Uri> Urls => [.. _nodes.Select(n => n.Url)];

    /// <summary>The nodes' process ids.</summary>
    public IReadOnlyList<int> Pids => [.. _nodes.Select(n => n.Process.Id)];

    public static async Task<BenchServer> StartAsync(BenchServerOptions options, CancellationToken cancellationToken)
    {
        var server = new BenchServer(Path.Combine(Path.GetTempPath(), "lockstep-bench-" + Guid.NewGuid().ToString("N")));
        // Killed here, at once: the bench's own shutdown after Ctrl+C may outlast the grace the command line gives it.
        AppDomain.CurrentDomain.ProcessExit += server.OnProcessExit;
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            server._signals.Add(PosixSignalRegistration.Create(signal, _ => server.KillAll()));
        }
        try
        {
            for (var i = 0; i < (options.Postgres is null ? 1 : options.Nodes); i++)
            {
                await server.StartNodeAsync(i, options, cancellationToken);
            }
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task StartNodeAsync(int index, BenchServerOptions options, CancellationToken cancellationToken)
    {
        var dataDir = Path.Combine(_dataDir, "node-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dataDir);
        var info = ServeCommandLine();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        foreach (var arg in new[] { "serve", "--urls", "http://127.0.0.1:0", "--data", dataDir, "--samples", "off" })
        {
            info.ArgumentList.Add(arg);
        }
        if (options.Postgres is { } postgres)
        {
            info.ArgumentList.Add("--postgres");
            info.ArgumentList.Add(postgres);
        }
        else
        {
            info.ArgumentList.Add("--synchronous");
            info.ArgumentList.Add(options.Synchronous.ToString().ToLowerInvariant());
        }
        var process = Process.Start(info) ?? throw new IOException("could not start lockstep serve");
        var node = new Node(process);
        _nodes.Add(node);
        process.StandardInput.Close();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }
            node.Record(line);
            // "lockstep: listening on http://127.0.0.1:40123; data in …": the port the OS gave it.
            if (line.StartsWith(ListeningPrefix, StringComparison.Ordinal))
            {
                var url = line[ListeningPrefix.Length..].Split([';', ',', ' '], 2)[0];
                listening.TrySetResult(new Uri(url));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                node.Record(line);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync(cancellationToken);
        var started = await Task.WhenAny(listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60), cancellationToken));
        cancellationToken.ThrowIfCancellationRequested();
        if (started != listening.Task)
        {
            throw new IOException($"lockstep serve {(process.HasExited ? $"exited with {process.ExitCode}" : "did not start listening within 60 s")}: {node.Tail()}");
        }
        node.Url = await listening.Task;
    }

    /// <summary>The command line of <c>lockstep</c> itself: the apphost, or <c>dotnet lockstep.dll</c>.</summary>
    private static ProcessStartInfo ServeCommandLine()
    {
        var host = Environment.ProcessPath ?? throw new IOException("cannot tell which program is running");
        if (!Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return new ProcessStartInfo(host);
        }
        var info = new ProcessStartInfo(host);
        info.ArgumentList.Add(typeof(BenchServer).Assembly.Location);
        return info;
    }

    private void OnProcessExit(object? sender, EventArgs e) => KillAll();

    private void KillAll()
    {
        foreach (var node in _nodes.ToArray())
        {
            try
            {
                if (!node.Process.HasExited)
                {
                    node.Process.Kill(entireProcessTree: true);
                }
                node.Process.WaitForExit(TimeSpan.FromSeconds(10));
            }
            catch (InvalidOperationException)
            {
                // Never started or already reaped.
            }
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
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            foreach (var signal in _signals)
            {
                signal.Dispose();
            }
            KillAll();
            foreach (var node in _nodes)
            {
                node.Process.Dispose();
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>One child <c>lockstep serve</c> and the last lines it wrote, for the message when it fails.</summary>
    private sealed class Node(Process process)
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public Process Process { get; } = process;

        public Uri Url { get; set; } = null!;

        public void Record(string line)
        {
            _lines.Enqueue(line);
            while (_lines.Count > 20 && _lines.TryDequeue(out _))
            {
            }
        }

        public string Tail() => string.Join(Environment.NewLine, _lines);
    }
}
