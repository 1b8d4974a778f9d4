using System.Diagnostics;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>What the latency scenario measured.</summary>
/// <param name="Readers">Subscribers.</param>
/// <param name="Rate">Writes per second.</param>
/// <param name="Updates">Writes sent.</param>
/// <param name="LatencyMs">Write → seen over every reader and write.</param>
/// <param name="BytesPerUpdatePerReader">Bytes on the wire of the change frames ÷ (updates × readers).</param>
/// <param name="FramesDelivered">Change frames the readers received.</param>
/// <param name="ServerCpuUsPerFrame">Server CPU while writing and delivering ÷ frames delivered; null when the servers' PIDs are unknown.</param>
internal sealed record LatencyOutcome(int Readers, int Rate, int Updates, LatencySummary LatencyMs, double BytesPerUpdatePerReader, long FramesDelivered, double? ServerCpuUsPerFrame);

/// <summary>
/// Write → seen at a fixed rate: readers subscribe to a collection of 100 documents; one writer patches one field
/// paced at exactly <c>rate</c> writes per second; every reader records the time from the send of each write to its
/// own receipt of the change (one process, one clock), and counts the change frames' bytes.
/// </summary>
internal sealed class LatencyScenario
{
    private const int Documents = 100;
    private readonly BenchTarget _target;

    public LatencyScenario(BenchTarget target)
    {
        _target = target;
    }

    public async Task<LatencyOutcome> RunAsync(int readers, int rate, TimeSpan duration, TimeSpan warmup, CancellationToken cancellationToken)
    {
        var collection = BenchWrites.NewCollection("l");
        var run = BenchWrites.NewRun();
        await using var writer = await _target.ConnectAsync(0, $"bench-{run}-writer", cancellationToken);
        // Create the documents first, so that the measured changes are one-field deltas.
        await BenchWrites.PutDocumentsAsync(writer, collection, Documents, cancellationToken);

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
                var reader = await _target.ConnectAsync(r + 1, $"bench-{run}-reader-{r}", cancellationToken);
                connections.Add(reader);
                var snapshotDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                reader.OnFrame = (frame, wireBytes) =>
                {
                    var now = Stopwatch.GetTimestamp();
                    if (frame is SnapshotFrame { Last: true })
                    {
                        snapshotDone.TrySetResult();
                    }
                    else if (frame is ChangeFrame change && BenchWrites.SetNumber(change) is { } i && i >= 0 && i < updates)
                    {
                        var sent = Volatile.Read(ref sentAt[i]);
                        lock (latencies)
                        {
                            latencies.Add(Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds);
                        }
                        Interlocked.Add(ref bytes, wireBytes);
                        if (Interlocked.Increment(ref received) == (long)updates * readers)
                        {
                            everyoneSawAll.TrySetResult();
                        }
                    }
                };
                await reader.SendAsync(new SubscribeFrame(RawJson.Number(1), new SubscriptionSpec("b", collection)), cancellationToken);
                await snapshotDone.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }

            await BenchWrites.WarmUpAsync(_target, writer, rate, warmup, n => BenchWrites.SetN(collection, BenchWrites.DocumentId((int)(n % Documents)), n), cancellationToken);
            var before = _target.ReadProcesses();
            await new PacedWriter(rate).WriteAsync(updates, async i =>
            {
                Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
                await writer.SendAsync(BenchWrites.Mutation(i, null, BenchWrites.SetN(collection, BenchWrites.DocumentId(i % Documents), i)), cancellationToken);
            }, cancellationToken);
            if (readers > 0)
            {
                try
                {
                    await everyoneSawAll.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                }
                catch (TimeoutException)
                {
                    _target.Progress.WriteLine($"  readers saw {Interlocked.Read(ref received)} of {(long)updates * readers} changes within 30 s");
                }
            }
            var after = _target.ReadProcesses();
            List<double> copy;
            lock (latencies)
            {
                copy = [.. latencies];
            }
            var frames = Interlocked.Read(ref received);
            var perReader = readers == 0 ? 0 : (double)Interlocked.Read(ref bytes) / ((double)updates * readers);
            return new LatencyOutcome(readers, rate, updates, LatencySummary.Of(copy), Math.Round(perReader, 1), frames, BenchTarget.CpuMicrosecondsPer(before, after, frames));
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
