using System.Globalization;

namespace Lockstep.Cli.Bench;

/// <summary>One reading of the server processes: CPU time used so far and resident memory, summed over the processes.</summary>
/// <param name="Cpu">User + system CPU time since each process started.</param>
/// <param name="RssBytes">Resident set size now.</param>
internal readonly record struct ProcessReading(TimeSpan Cpu, long RssBytes);

/// <summary>
/// Reads the server processes' CPU time and RSS from <c>/proc/PID/stat</c> and <c>/proc/PID/status</c>, so that the
/// bench client's own cost stays out of the figures. Only for processes whose PIDs are known (the bench's own
/// servers, or <c>--server-pid</c>); otherwise there is no sampler and those figures are null, not guessed.
/// </summary>
internal sealed class ProcessSampler
{
    // USER_HZ: the unit of utime and stime in /proc/PID/stat, fixed at 100 by Linux's user-space ABI.
    private const double TicksPerSecond = 100;
    private readonly int[] _pids;

    private ProcessSampler(int[] pids)
    {
        _pids = pids;
    }

    public IReadOnlyList<int> Pids => _pids;

    /// <summary>A sampler over these PIDs, or null when there are none or /proc cannot be read (not Linux).</summary>
    public static ProcessSampler? For(IReadOnlyList<int> pids)
    {
        if (pids.Count == 0 || !OperatingSystem.IsLinux())
        {
            return null;
        }
        var sampler = new ProcessSampler([.. pids]);
        sampler.Read(); // fails now, with a plain message, when a PID is not there
        return sampler;
    }

    /// <summary>The processes' CPU time and RSS now.</summary>
    public ProcessReading Read()
    {
        var ticks = 0L;
        var rss = 0L;
        foreach (var pid in _pids)
        {
            string stat, status;
            try
            {
                stat = File.ReadAllText($"/proc/{pid}/stat");
                status = File.ReadAllText($"/proc/{pid}/status");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"cannot read /proc/{pid}: is the server's PID right, and is it still running? ({e.Message})", e);
            }
            // The command name in parentheses may hold spaces: the fields that follow start after the last ')'.
            // After it: state (field 3) …, utime (14), stime (15).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            rss += StatusKilobytes(status, "VmRSS:") * 1024;
        }
        return new ProcessReading(TimeSpan.FromSeconds(ticks / TicksPerSecond), rss);
    }

    /// <summary>Samples RSS every 20 ms until the returned watch is stopped: the peak in between.</summary>
    public PeakWatch WatchPeak() => new(this);

    private static long StatusKilobytes(string status, string field)
    {
        foreach (var line in status.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var value = line[field.Length..].Trim();
                var space = value.IndexOf(' ');
                return long.Parse(space < 0 ? value : value[..space], CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    /// <summary>The peak RSS of the processes while it runs (sampled, so a spike shorter than 20 ms may be missed).</summary>
    internal sealed class PeakWatch : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampling;
        private long _peak;

        public PeakWatch(ProcessSampler sampler)
        {
            _peak = sampler.Read().RssBytes;
            _sampling = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
                try
                {
                    while (await timer.WaitForNextTickAsync(_stop.Token))
                    {
                        var rss = sampler.Read().RssBytes;
                        if (rss > Volatile.Read(ref _peak))
                        {
                            Volatile.Write(ref _peak, rss);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (IOException)
                {
                    // The server went away: the peak so far stands; the scenario reports the failure itself.
                }
            });
        }

        /// <summary>Stops sampling: the peak RSS seen.</summary>
        public async Task<long> StopAsync()
        {
            await _stop.CancelAsync();
            await _sampling;
            return Volatile.Read(ref _peak);
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }
    }
}
