using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Lockstep.Cli.Bench;

namespace Lockstep.Peers.Bench;

/// <summary>What <c>peer bench</c> was asked to run.</summary>
/// <param name="Kind">signalr, polling or lockstep.</param>
/// <param name="PollInterval">The polling readers' interval (plain polling only).</param>
internal sealed record PeerBenchSettings(string Kind, int Readers, int Rate, double Duration, bool Ack, bool MessagePack, TimeSpan PollInterval, bool LongPoll);

/// <summary>The latency workload's figures, named as <c>lockstep bench --scenario latency</c> names them.</summary>
/// <param name="FramesDelivered">Changes the readers received, over all of them; <c>updates × readers</c> when every reader saw every write.</param>
/// <param name="BytesPerUpdatePerReader">Bytes read on the readers' sockets from the first write until every reader saw the last ÷ (updates × readers).</param>
/// <param name="SentBytesPerUpdatePerReader">Bytes the readers wrote on their sockets over the same span (requests, pings) ÷ (updates × readers).</param>
/// <param name="ServerCpuUsPerFrame">Server CPU (from /proc) over the same span ÷ frames delivered.</param>
/// <param name="ServerRssBytes">The server's RSS when every reader had seen the last write.</param>
internal sealed record PeerLatencyOutcome(string Kind, string Protocol, int Readers, int Rate, int Updates, LatencySummary LatencyMs, long FramesDelivered,
    double BytesPerUpdatePerReader, double SentBytesPerUpdatePerReader, double? ServerCpuUsPerFrame, long ServerRssBytes, double? PollIntervalMs, PeerRunInfo Run);

/// <summary>The ack workload's figures: one writer, each write sent once the previous one's durable ack arrived.</summary>
/// <param name="AckMs">From the send of a write to its durable ack.</param>
internal sealed record PeerAckOutcome(string Kind, string Protocol, int Writes, double WritesPerSec, LatencySummary AckMs, double? ServerCpuUsPerWrite, long ServerRssBytes, PeerRunInfo Run);

/// <summary>Where and when: the server's PID, the 1-minute load average when the run started, the machine.</summary>
internal sealed record PeerRunInfo(int ServerPid, double? LoadAverageAtStart, int Cores, string Os, string Runtime);

/// <summary>
/// <c>peer bench</c>: starts the kind's server as a child process, runs the latency workload (one writer paced at
/// <c>--rate</c> for <c>--duration</c> s, <c>--readers</c> readers, write → seen per reader and write) or the ack
/// workload (<c>--ack</c>), and kills the server by its PID.
/// </summary>
internal sealed class PeerBench
{
    private readonly PeerBenchSettings _settings;
    private readonly TextWriter _progress;

    public PeerBench(PeerBenchSettings settings, TextWriter progress)
    {
        _settings = settings;
        _progress = progress;
    }

    private string Protocol => _settings.Kind switch
    {
        "polling" => _settings.LongPoll ? "http-long-poll" : "http-poll",
        _ => _settings.MessagePack ? "messagepack" : "json",
    };

    public async Task<object> RunAsync(CancellationToken cancellationToken)
    {
        var load = LoadAverage();
        await using var server = await ChildServer.StartAsync(_settings.Kind, _settings.MessagePack, cancellationToken);
        _progress.WriteLine($"server: {_settings.Kind} ({Protocol}) on {server.Url} (pid {server.Pid}); load average {load?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}");
        var sampler = ProcessSampler.For([server.Pid]);
        var run = new PeerRunInfo(server.Pid, load, Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription);
        using var counter = new CountingConnector();
        await using IPeerClient client = _settings.Kind switch
        {
            "signalr" => new SignalRPeerClient(server.Url, _settings.MessagePack, counter),
            "polling" => new PollingPeerClient(server.Url, _settings.PollInterval, _settings.LongPoll, counter),
            "lockstep" => new LockstepPeerClient(server.Url, _settings.MessagePack, counter),
            _ => throw new InvalidOperationException($"unknown kind {_settings.Kind}"),
        };
        await client.StartAsync(cancellationToken);
        return _settings.Ack
            ? await AckAsync(client, sampler, run, cancellationToken)
            : await LatencyAsync(client, sampler, counter, run, cancellationToken);
    }

    private async Task<PeerLatencyOutcome> LatencyAsync(IPeerClient client, ProcessSampler? sampler, CountingConnector counter, PeerRunInfo run, CancellationToken cancellationToken)
    {
        var readers = _settings.Readers;
        var updates = Math.Max(1, (int)(_settings.Rate * _settings.Duration));
        var expected = (long)updates * readers;
        var sentAt = new long[updates];
        var latencies = new List<double>((int)Math.Min(expected, 10_000_000));
        var received = 0L;
        var everyoneSawAll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _progress.WriteLine($"{readers} readers, one writer at {_settings.Rate} writes/s for {_settings.Duration.ToString(CultureInfo.InvariantCulture)} s …");
        await client.ConnectReadersAsync(readers, (write, at) =>
        {
            if (write < 0 || write >= updates)
            {
                return;
            }
            var sent = Volatile.Read(ref sentAt[write]);
            lock (latencies)
            {
                latencies.Add(Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds);
            }
            if (Interlocked.Increment(ref received) == expected)
            {
                everyoneSawAll.TrySetResult();
            }
        }, cancellationToken);

        var bytesBefore = counter.BytesRead;
        var sentBefore = counter.BytesWritten;
        var before = sampler?.Read();
        await new PacedWriter(_settings.Rate).WriteAsync(updates, i =>
        {
            Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
            return client.SendAsync(i, cancellationToken);
        }, cancellationToken);
        if (readers > 0)
        {
            try
            {
                await everyoneSawAll.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }
            catch (TimeoutException)
            {
                _progress.WriteLine($"  readers saw {Interlocked.Read(ref received)} of {expected} changes within 30 s");
            }
        }
        var after = sampler?.Read();
        var bytes = counter.BytesRead - bytesBefore;
        var sentBytes = counter.BytesWritten - sentBefore;
        await client.DrainAsync(cancellationToken);
        List<double> copy;
        lock (latencies)
        {
            copy = [.. latencies];
        }
        var frames = Interlocked.Read(ref received);
        return new PeerLatencyOutcome(_settings.Kind, Protocol, readers, _settings.Rate, updates, LatencySummary.Of(copy), frames,
            readers == 0 ? 0 : Math.Round((double)bytes / expected, 1), readers == 0 ? 0 : Math.Round((double)sentBytes / expected, 1), CpuMicrosecondsPer(before, after, frames), after?.RssBytes ?? 0,
            _settings.Kind == "polling" && !_settings.LongPoll ? _settings.PollInterval.TotalMilliseconds : null, run);
    }

    private async Task<PeerAckOutcome> AckAsync(IPeerClient client, ProcessSampler? sampler, PeerRunInfo run, CancellationToken cancellationToken)
    {
        _progress.WriteLine($"one writer, each write after the previous one's durable ack, for {_settings.Duration.ToString(CultureInfo.InvariantCulture)} s …");
        var acks = new List<double>();
        var before = sampler?.Read();
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(_settings.Duration);
        for (var i = 0L; clock.Elapsed < end; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            await client.WriteAsync(i, cancellationToken);
            acks.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        clock.Stop();
        var after = sampler?.Read();
        return new PeerAckOutcome(_settings.Kind, Protocol, acks.Count, Math.Round(acks.Count / clock.Elapsed.TotalSeconds), LatencySummary.Of(acks),
            CpuMicrosecondsPer(before, after, acks.Count), after?.RssBytes ?? 0, run);
    }

    private static double? CpuMicrosecondsPer(ProcessReading? before, ProcessReading? after, long units) =>
        before is { } b && after is { } a && units > 0 ? Math.Round((a.Cpu - b.Cpu).TotalMicroseconds / units, 2) : null;

    /// <summary>The 1-minute load average from /proc/loadavg, or null off Linux.</summary>
    private static double? LoadAverage()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.AsSpan(0, text.IndexOf(' ')), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}
