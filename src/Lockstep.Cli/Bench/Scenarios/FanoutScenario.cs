using System.Diagnostics;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>What the fan-out scenario measured.</summary>
/// <param name="Subscribers">Subscribers asked for.</param>
/// <param name="Subscribed">Subscribers open and subscribed (fewer when the machine stopped them: <paramref name="LimitedBy"/>).</param>
/// <param name="Rate">Writes per second of the one writer.</param>
/// <param name="Writes">Writes sent.</param>
/// <param name="FramesExpected">Writes × subscribed.</param>
/// <param name="FramesDelivered">Change frames the subscribers received.</param>
/// <param name="LatencyMs">Write → seen over every subscriber and write (10 µs buckets).</param>
/// <param name="BytesPerFrame">Bytes on the wire per change frame.</param>
/// <param name="ServerCpuUsPerFrame">Server CPU while writing and delivering ÷ frames delivered; null when the servers' PIDs are unknown.</param>
/// <param name="ServerRssBytes">The servers' RSS with every subscriber open, after the writes; null likewise.</param>
/// <param name="SourceAddresses">Loopback source addresses the subscribers were spread over.</param>
/// <param name="LimitedBy">Why fewer than asked were opened, or null.</param>
internal sealed record FanoutOutcome(int Subscribers, int Subscribed, int Rate, int Writes, long FramesExpected, long FramesDelivered, LatencySummary LatencyMs,
    double BytesPerFrame, double? ServerCpuUsPerFrame, long? ServerRssBytes, int SourceAddresses, string? LimitedBy);

/// <summary>
/// Fan-out: N subscribers on one collection of one document, one writer patching it at a fixed rate; the time from
/// each write's send to its receipt by every subscriber, and the servers' CPU per delivered frame.
/// </summary>
internal sealed class FanoutScenario
{
    private readonly BenchTarget _target;

    public FanoutScenario(BenchTarget target)
    {
        _target = target;
    }

    public async Task<FanoutOutcome> RunAsync(int subscribers, int rate, TimeSpan duration, TimeSpan warmup, CancellationToken cancellationToken)
    {
        var collection = BenchWrites.NewCollection("f");
        await using var writer = await _target.ConnectAsync(0, $"bench-{BenchWrites.NewRun()}-writer", cancellationToken);
        await BenchWrites.PutDocumentsAsync(writer, collection, 1, cancellationToken);

        var writes = Math.Max(1, (int)(rate * duration.TotalSeconds));
        var sentAt = new long[writes];
        var latency = new LatencyHistogram();
        var frames = 0L;
        var bytes = 0L;
        var expected = long.MaxValue;
        var everyoneSawAll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _target.Progress.WriteLine($"  opening {subscribers:N0} subscribers …");
        await using var set = await SubscriberSet.OpenAsync(_target, collection, subscribers, (_, change, wireBytes) =>
        {
            var now = Stopwatch.GetTimestamp();
            if (BenchWrites.SetNumber(change) is { } i && i >= 0 && i < writes)
            {
                latency.Record(Stopwatch.GetElapsedTime(Volatile.Read(ref sentAt[i]), now));
                Interlocked.Add(ref bytes, wireBytes);
                if (Interlocked.Increment(ref frames) == Volatile.Read(ref expected))
                {
                    everyoneSawAll.TrySetResult();
                }
            }
        }, cancellationToken);
        Volatile.Write(ref expected, (long)writes * set.Count);
        _target.Progress.WriteLine($"  {set.Count:N0} subscribed; one writer at {rate} writes/s for {duration.TotalSeconds} s …");

        await BenchWrites.WarmUpAsync(_target, writer, rate, warmup, n => BenchWrites.SetN(collection, BenchWrites.DocumentId(0), n), cancellationToken);
        var before = _target.ReadProcesses();
        await new PacedWriter(rate).WriteAsync(writes, async i =>
        {
            Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
            await writer.SendAsync(BenchWrites.Mutation(i, null, BenchWrites.SetN(collection, BenchWrites.DocumentId(0), i)), cancellationToken);
        }, cancellationToken);
        if (set.Count > 0)
        {
            try
            {
                await everyoneSawAll.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            }
            catch (TimeoutException)
            {
                _target.Progress.WriteLine($"  subscribers saw {Interlocked.Read(ref frames):N0} of {(long)writes * set.Count:N0} changes within 60 s");
            }
        }
        var after = _target.ReadProcesses();
        var delivered = Interlocked.Read(ref frames);
        return new FanoutOutcome(subscribers, set.Count, rate, writes, (long)writes * set.Count, delivered, latency.Summary(),
            delivered == 0 ? 0 : Math.Round((double)Interlocked.Read(ref bytes) / delivered, 1),
            BenchTarget.CpuMicrosecondsPer(before, after, delivered), after?.RssBytes, set.SourceAddresses, set.LimitedBy);
    }
}
