using System.Diagnostics;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>What the throughput scenario measured.</summary>
/// <param name="Writes">Writes sent.</param>
/// <param name="Acknowledged">Writes acknowledged (durable); the others were refused.</param>
/// <param name="WritesPerSec">Acknowledged writes ÷ elapsed time.</param>
/// <param name="ServerCpuUsPerWrite">Server CPU (from /proc) ÷ acknowledged writes; null when the servers' PIDs are unknown.</param>
internal sealed record ThroughputOutcome(int Writes, long Acknowledged, double WritesPerSec, double? ServerCpuUsPerWrite);

/// <summary>
/// Durable write throughput: many writer connections, each keeping up to 64 single-field patches (numbered with a
/// <c>mid</c>) in flight over 1,000 documents; acknowledged writes per second, and the servers' CPU per write.
/// </summary>
internal sealed class ThroughputScenario
{
    private const int InFlightPerWriter = 64;
    private const int Documents = 1000;
    private readonly BenchTarget _target;

    public ThroughputScenario(BenchTarget target)
    {
        _target = target;
    }

    public Task<ThroughputOutcome> RunAsync(int writes, int writers, CancellationToken cancellationToken) =>
        WriteAsync(BenchWrites.NewCollection("w"), writes, writers, cancellationToken);

    /// <summary>Writes <paramref name="writes"/> patches into <paramref name="collection"/> as fast as the writers are acknowledged.</summary>
    public async Task<ThroughputOutcome> WriteAsync(string collection, int writes, int writers, CancellationToken cancellationToken)
    {
        var run = BenchWrites.NewRun();
        var connections = new List<BenchConnection>();
        try
        {
            for (var w = 0; w < writers; w++)
            {
                connections.Add(await _target.ConnectAsync(w, $"bench-{run}-{w}", cancellationToken));
            }
            var errors = 0L;
            var before = _target.ReadProcesses();
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
                    await connection.SendAsync(BenchWrites.Mutation(i, i, BenchWrites.SetN(collection, BenchWrites.DocumentId((w * 7919 + i) % Documents), i)), cancellationToken);
                }
                await allAcked.Task.WaitAsync(TimeSpan.FromMinutes(10), cancellationToken);
            }, cancellationToken)));
            clock.Stop();
            var after = _target.ReadProcesses();
            if (errors > 0)
            {
                _target.Progress.WriteLine($"  {errors} writes were refused (see the server's log)");
            }
            var acknowledged = writes - errors;
            return new ThroughputOutcome(writes, acknowledged, Math.Round(acknowledged / clock.Elapsed.TotalSeconds), BenchTarget.CpuMicrosecondsPer(before, after, acknowledged));
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
