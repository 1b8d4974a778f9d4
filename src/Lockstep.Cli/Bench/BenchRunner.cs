using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

/// <summary>
/// The benchmark's phases against a running server, in one encoding: durable write throughput, then write → seen
/// latency and bytes per update at a fixed rate, then the bytes of a 1,000-document snapshot.
/// </summary>
internal sealed partial class BenchRunner
{
    private const int InFlightPerWriter = 64;
    private const int Documents = 100;
    private readonly Uri[] _syncUrls;
    private readonly IFrameCodec _codec;
    private readonly TextWriter _progress;

    public BenchRunner(Uri[] syncUrls, IFrameCodec codec, TextWriter progress)
    {
        _syncUrls = syncUrls;
        _codec = codec;
        _progress = progress;
    }

    private Task<BenchConnection> ConnectAsync(int node, string clientId, CancellationToken cancellationToken) =>
        BenchConnection.ConnectAsync(_syncUrls[node % _syncUrls.Length], clientId, _codec, cancellationToken);

    /// <summary>A <c>mut</c> of one op.</summary>
    private static MutateFrame Mutation(long id, long? mid, MutationOp op) => new(RawJson.Number(id), mid, [op]);

    /// <summary>A single-field patch, <c>set: {"n": n}</c>: the update the bench measures.</summary>
    private static MutationOp SetN(string collection, string id, long n) =>
        new(OpKind.Patch, collection, id) { Set = new RawJson("{\"n\":" + n.ToString(CultureInfo.InvariantCulture) + "}") };

    /// <summary>A document as the bench writes them.</summary>
    private static RawJson Document(int d) => new("{\"title\":\"document " + d.ToString(CultureInfo.InvariantCulture) + "\",\"n\":-1}");

    /// <summary>The <c>n</c> a delta sets, when it is a number.</summary>
    private static long? SetNumber(ChangeFrame change)
    {
        if (change.Kind != ChangeKind.Delta || change.Body is not { } body)
        {
            return null;
        }
        using var set = JsonDocument.Parse(body.Json);
        return set.RootElement.ValueKind == JsonValueKind.Object && set.RootElement.TryGetProperty("n", out var n) && n.TryGetInt64(out var value) ? value : null;
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
                connections.Add(await ConnectAsync(w, $"bench-{run}-{w}", cancellationToken));
            }
            var errors = 0L;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(connections.Select((connection, w) => Task.Run(async () =>
            {
                var share = writes / writers + (w < writes % writers ? 1 : 0);
                using var window = new SemaphoreSlim(InFlightPerWriter);
                var acked = 0;
                var allAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                connection.OnFrame = (frame, _) =>
                {
                    if (frame is ErrorFrame)
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
                    await connection.SendAsync(Mutation(i, i, SetN(collection, "d" + ((w * 7919 + i) % 1000).ToString(CultureInfo.InvariantCulture), i)), cancellationToken);
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
        await using var writer = await ConnectAsync(0, $"bench-{run}-writer", cancellationToken);
        var replies = new SemaphoreSlim(0);
        writer.OnFrame = (_, _) => replies.Release();

        // Create the documents first, so that the measured changes are one-field deltas.
        for (var d = 0; d < Documents; d++)
        {
            await writer.SendAsync(Mutation(d, null, new MutationOp(OpKind.Put, collection, "d" + d.ToString(CultureInfo.InvariantCulture)) { Doc = Document(d) }), cancellationToken);
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
                var reader = await ConnectAsync(r + 1, $"bench-{run}-reader-{r}", cancellationToken);
                connections.Add(reader);
                var snapshotDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                reader.OnFrame = (frame, wireBytes) =>
                {
                    var now = Stopwatch.GetTimestamp();
                    if (frame is SnapshotFrame { Last: true })
                    {
                        snapshotDone.TrySetResult();
                    }
                    else if (frame is ChangeFrame change && SetNumber(change) is { } i && i >= 0 && i < updates)
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
                await writer.SendAsync(Mutation(i, null, SetN(collection, "d" + (i % Documents).ToString(CultureInfo.InvariantCulture), i)), cancellationToken);
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
