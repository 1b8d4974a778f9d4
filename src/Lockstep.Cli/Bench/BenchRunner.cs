using System.Diagnostics;

namespace Lockstep.Cli.Bench;

/// <summary>The benchmark's phases against a running server: durable write throughput, then write → seen latency and bytes per update at a fixed rate.</summary>
internal sealed class BenchRunner
{
    private const int InFlightPerWriter = 64;
    private const int Documents = 100;
    private readonly Uri[] _syncUrls;
    private readonly TextWriter _progress;

    public BenchRunner(Uri[] syncUrls, TextWriter progress)
    {
        _syncUrls = syncUrls;
        _progress = progress;
    }

    /// <summary>Many writers, each keeping up to 64 single-field patches in flight: acknowledged (durable) writes per second.</summary>
    public async Task<double> MeasureThroughputAsync(int writes, int writers, CancellationToken cancellationToken)
    {
        var collection = "bench-w-" + Guid.NewGuid().ToString("N")[..8];
        var run = Guid.NewGuid().ToString("N")[..8];
        var connections = new List<BenchConnection>();
        try
        {
            for (var w = 0; w < writers; w++)
            {
                connections.Add(await BenchConnection.ConnectAsync(_syncUrls[w % _syncUrls.Length], $"bench-{run}-{w}", cancellationToken));
            }
            var errors = 0L;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(connections.Select((connection, w) => Task.Run(async () =>
            {
                var share = writes / writers + (w < writes % writers ? 1 : 0);
                using var window = new SemaphoreSlim(InFlightPerWriter);
                var acked = 0;
                var allAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                connection.OnFrame = frame =>
                {
                    var (type, _, _) = FramePeek.Read(frame.Span);
                    if (type == "error")
                    {
                        Interlocked.Increment(ref errors);
                    }
                    window.Release();
                    if (++acked == share)
                    {
                        allAcked.TrySetResult();
                    }
                };
                if (share == 0)
                {
                    return;
                }
                for (var i = 1; i <= share; i++)
                {
                    await window.WaitAsync(cancellationToken);
                    await connection.SendAsync(
                        $"{{\"t\":\"mut\",\"id\":{i},\"mid\":{i},\"ops\":[{{\"op\":\"patch\",\"collection\":\"{collection}\",\"id\":\"d{(w * 7919 + i) % 1000}\",\"set\":{{\"n\":{i}}}}}]}}",
                        cancellationToken);
                }
                await allAcked.Task.WaitAsync(TimeSpan.FromMinutes(5), cancellationToken);
            }, cancellationToken)));
            clock.Stop();
            if (errors > 0)
            {
                _progress.WriteLine($"  {errors} writes were refused (see the server's log)");
            }
            return (writes - errors) / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Readers subscribe to a collection; one writer patches one field at a fixed rate; every reader
    /// records the time from sending each write to receiving its change. Also counts the bytes of
    /// the change frames each reader received.
    /// </summary>
    public async Task<(LatencySummary Latency, double BytesPerUpdatePerReader, int Updates)> MeasureLatencyAsync(
        int readers, int rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        var collection = "bench-l-" + Guid.NewGuid().ToString("N")[..8];
        var run = Guid.NewGuid().ToString("N")[..8];
        await using var writer = await BenchConnection.ConnectAsync(_syncUrls[0], $"bench-{run}-writer", cancellationToken);
        var replies = new SemaphoreSlim(0);
        writer.OnFrame = _ => replies.Release();

        // Create the documents first, so that the measured changes are one-field deltas.
        for (var d = 0; d < Documents; d++)
        {
            await writer.SendAsync($"{{\"t\":\"mut\",\"id\":{d},\"ops\":[{{\"op\":\"put\",\"collection\":\"{collection}\",\"id\":\"d{d}\",\"doc\":{{\"title\":\"document {d}\",\"n\":-1}}}}]}}", cancellationToken);
        }
        for (var d = 0; d < Documents; d++)
        {
            await replies.WaitAsync(cancellationToken);
        }

        var updates = Math.Max(1, (int)(rate * duration.TotalSeconds));
        var sentAt = new long[updates];
        var latencies = new List<double>(updates * Math.Max(1, readers));
        var bytes = 0L;
        var received = 0L;
        var everyoneSawAll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var connections = new List<BenchConnection>();
        try
        {
            for (var r = 0; r < readers; r++)
            {
                var reader = await BenchConnection.ConnectAsync(_syncUrls[(r + 1) % _syncUrls.Length], $"bench-{run}-reader-{r}", cancellationToken);
                connections.Add(reader);
                var snapshotDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                reader.OnFrame = frame =>
                {
                    var now = Stopwatch.GetTimestamp();
                    var (type, n, last) = FramePeek.Read(frame.Span);
                    if (type == "snapshot" && last)
                    {
                        snapshotDone.TrySetResult();
                    }
                    else if (type == "chg" && n is { } i && i >= 0 && i < updates)
                    {
                        var sent = Volatile.Read(ref sentAt[i]);
                        lock (latencies)
                        {
                            latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                        }
                        Interlocked.Add(ref bytes, BenchConnection.WireBytes(frame.Length));
                        if (Interlocked.Increment(ref received) == (long)updates * readers)
                        {
                            everyoneSawAll.TrySetResult();
                        }
                    }
                };
                await reader.SendAsync($"{{\"t\":\"sub\",\"id\":1,\"sub\":\"b\",\"collection\":\"{collection}\"}}", cancellationToken);
                await snapshotDone.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }

            // Paced, not bursty: write i goes out at start + i / rate.
            var start = Stopwatch.GetTimestamp();
            var ticksPerWrite = (double)Stopwatch.Frequency / rate;
            for (var i = 0; i < updates; i++)
            {
                var due = start + (long)(i * ticksPerWrite);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(2))
                {
                    await Task.Delay(wait - TimeSpan.FromMilliseconds(1), cancellationToken);
                }
                while (Stopwatch.GetTimestamp() < due)
                {
                    Thread.SpinWait(20);
                }
                Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
                await writer.SendAsync($"{{\"t\":\"mut\",\"id\":{i},\"ops\":[{{\"op\":\"patch\",\"collection\":\"{collection}\",\"id\":\"d{i % Documents}\",\"set\":{{\"n\":{i}}}}}]}}", cancellationToken);
            }
            if (readers > 0)
            {
                try
                {
                    await everyoneSawAll.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                }
                catch (TimeoutException)
                {
                    _progress.WriteLine($"  readers saw {Interlocked.Read(ref received)} of {(long)updates * readers} changes within 30 s");
                }
            }
            List<double> copy;
            lock (latencies)
            {
                copy = [.. latencies];
            }
            var perReader = readers == 0 ? 0 : (double)Interlocked.Read(ref bytes) / ((double)updates * readers);
            return (LatencySummary.Of(copy), perReader, updates);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }
}
