using System.Diagnostics;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>What the connections scenario measured.</summary>
/// <param name="Requested">Connections asked for.</param>
/// <param name="Connections">Connections open and subscribed: the largest count reached.</param>
/// <param name="LimitedBy">Why fewer than asked were opened (an open-files limit, a refused connection), or null.</param>
/// <param name="OpenFilesSoft">This client process's open-files soft limit.</param>
/// <param name="OpenFilesHard">Its hard limit.</param>
/// <param name="SourceAddresses">Loopback source addresses the connections were spread over.</param>
/// <param name="OpenSeconds">The time to open and subscribe them all.</param>
/// <param name="ServerRssBytesBefore">The servers' RSS before the connections; null when their PIDs are unknown.</param>
/// <param name="ServerRssBytesAfter">With every connection open; null likewise.</param>
/// <param name="RssBytesPerConnection">(after − before) ÷ connections; null likewise.</param>
/// <param name="ManagedHeapBytesBefore">The servers' managed heap before (GET /v1/status); null when a server does not report it.</param>
/// <param name="ManagedHeapBytesAfter">With every connection open; null likewise.</param>
/// <param name="ManagedHeapBytesPerConnection">(after − before) ÷ connections; null likewise.</param>
/// <param name="Writes">Writes sent one at a time, each once every connection had seen the one before.</param>
/// <param name="LatencyMs">Write → seen over every connection and write (10 µs buckets).</param>
/// <param name="ReachedAllMs">Per write, the time until the last connection saw it: the worst and the median over the writes.</param>
internal sealed record ConnectionsOutcome(int Requested, int Connections, string? LimitedBy, long? OpenFilesSoft, long? OpenFilesHard, int SourceAddresses, double OpenSeconds,
    long? ServerRssBytesBefore, long? ServerRssBytesAfter, double? RssBytesPerConnection,
    long? ManagedHeapBytesBefore, long? ManagedHeapBytesAfter, double? ManagedHeapBytesPerConnection,
    int Writes, LatencySummary LatencyMs, ReachedAll ReachedAllMs);

/// <summary>The time for one write to reach every connection, over the writes.</summary>
internal sealed record ReachedAll(double P50, double Max);

/// <summary>
/// Idle connections: N connections each with a hello and one subscription to the same one-document collection, spread
/// over loopback source addresses; the servers' RSS and managed heap per connection, and the time for one write to
/// reach all of them.
/// </summary>
internal sealed class ConnectionsScenario
{
    private const int Writes = 5;
    private readonly BenchTarget _target;

    public ConnectionsScenario(BenchTarget target)
    {
        _target = target;
    }

    public async Task<ConnectionsOutcome> RunAsync(int connections, CancellationToken cancellationToken)
    {
        var collection = BenchWrites.NewCollection("c");
        await using var writer = await _target.ConnectAsync(0, $"bench-{BenchWrites.NewRun()}-writer", cancellationToken);
        await BenchWrites.PutDocumentsAsync(writer, collection, 1, cancellationToken);
        var limits = OpenFilesLimit.OfThisProcess();
        var rssBefore = _target.ReadProcesses()?.RssBytes;
        var heapBefore = await _target.ReadManagedHeapAsync(cancellationToken);

        var sentAt = new long[Writes];
        var latency = new LatencyHistogram();
        var seen = new int[Writes];
        var lastSeenAt = new long[Writes];
        var reachedAll = Enumerable.Range(0, Writes).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var count = int.MaxValue;
        _target.Progress.WriteLine($"  opening {connections:N0} connections (open-files limit: {limits?.Soft.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}) …");
        var clock = Stopwatch.StartNew();
        await using var set = await SubscriberSet.OpenAsync(_target, collection, connections, (_, change, _) =>
        {
            var now = Stopwatch.GetTimestamp();
            if (BenchWrites.SetNumber(change) is { } i && i >= 0 && i < Writes)
            {
                latency.Record(Stopwatch.GetElapsedTime(Volatile.Read(ref sentAt[i]), now));
                if (Interlocked.Increment(ref seen[i]) == Volatile.Read(ref count))
                {
                    Volatile.Write(ref lastSeenAt[i], now);
                    reachedAll[i].TrySetResult();
                }
            }
        }, cancellationToken);
        var openSeconds = Math.Round(clock.Elapsed.TotalSeconds, 2);
        Volatile.Write(ref count, set.Count);
        _target.Progress.WriteLine($"  {set.Count:N0} connections open in {openSeconds} s");
        var rssAfter = _target.ReadProcesses()?.RssBytes;
        var heapAfter = await _target.ReadManagedHeapAsync(cancellationToken);

        var reached = new List<double>(Writes);
        for (var i = 0; i < Writes && set.Count > 0; i++)
        {
            Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
            await writer.SendAsync(BenchWrites.Mutation(i, null, BenchWrites.SetN(collection, BenchWrites.DocumentId(0), i)), cancellationToken);
            try
            {
                await reachedAll[i].Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
                reached.Add(Stopwatch.GetElapsedTime(sentAt[i], Volatile.Read(ref lastSeenAt[i])).TotalMilliseconds);
            }
            catch (TimeoutException)
            {
                _target.Progress.WriteLine($"  write {i} reached {Volatile.Read(ref seen[i]):N0} of {set.Count:N0} connections within 60 s");
            }
        }
        reached.Sort();
        double? Per(long? before, long? after) => before is { } b && after is { } a && set.Count > 0 ? Math.Round((double)(a - b) / set.Count) : null;
        return new ConnectionsOutcome(connections, set.Count, set.LimitedBy, limits?.Soft, limits?.Hard, set.SourceAddresses, openSeconds,
            rssBefore, rssAfter, Per(rssBefore, rssAfter), heapBefore, heapAfter, Per(heapBefore, heapAfter),
            Writes, latency.Summary(), new ReachedAll(reached.Count == 0 ? double.NaN : Math.Round(reached[(reached.Count - 1) / 2], 3), reached.Count == 0 ? double.NaN : Math.Round(reached[^1], 3)));
    }
}
