using System.Diagnostics;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>What the catch-up scenario measured.</summary>
/// <param name="Changes">Changes written (patches over 1,000 documents) while the client was away.</param>
/// <param name="Written">The writing phase, as the throughput scenario reports it.</param>
/// <param name="Resumable">The welcome's <c>resumable</c>: true when the server replayed the log from cursor 0; false when it sent a snapshot instead (cursor 0 older than the log).</param>
/// <param name="ChangesReceived">Change frames the returning client received until it was current.</param>
/// <param name="Seconds">From its hello until it was current.</param>
/// <param name="ChangesPerSec">Changes received ÷ seconds.</param>
/// <param name="BytesPerChange">Bytes on the wire per change frame.</param>
/// <param name="ServerRssBytesBefore">The servers' RSS before the hello; null when their PIDs are unknown.</param>
/// <param name="ServerRssPeakBytes">Their peak RSS during the catch-up (sampled every 20 ms); null likewise.</param>
/// <param name="ServerCpuUsPerChange">Server CPU during the catch-up ÷ changes received; null likewise.</param>
internal sealed record CatchupOutcome(int Changes, ThroughputOutcome Written, bool? Resumable, long ChangesReceived, double Seconds, double ChangesPerSec, double BytesPerChange,
    long? ServerRssBytesBefore, long? ServerRssPeakBytes, double? ServerCpuUsPerChange);

/// <summary>
/// Catch-up: many pipelined writers write N changes into a collection while no one listens; then a fresh client says
/// hello with cursor 0 and a subscription to that collection in <c>hello.subs</c> (protocol.md §6) and receives every
/// change after its cursor: changes per second until it is current, bytes per change, the servers' memory meanwhile.
/// </summary>
internal sealed class CatchupScenario
{
    private readonly BenchTarget _target;

    public CatchupScenario(BenchTarget target)
    {
        _target = target;
    }

    public async Task<CatchupOutcome> RunAsync(int changes, int writers, CancellationToken cancellationToken)
    {
        var collection = BenchWrites.NewCollection("k");
        _target.Progress.WriteLine($"  writing {changes:N0} changes from {writers} connections …");
        var written = await new ThroughputScenario(_target).WriteAsync(collection, changes, writers, cancellationToken);
        _target.Progress.WriteLine($"  {written.Acknowledged:N0} written ({written.WritesPerSec:N0}/s); a fresh client resumes from cursor 0 …");

        var received = 0L;
        var bytes = 0L;
        var current = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rssBefore = _target.ReadProcesses();
        await using var peak = _target.Sampler?.WatchPeak();
        var clock = Stopwatch.StartNew();
        var hello = new HelloFrame(RawJson.Number(0))
        {
            ClientId = $"bench-{BenchWrites.NewRun()}-returning",
            Protocol = 1,
            Cursor = 0,
            Subs = [new SubscriptionSpec("k", collection)],
        };
        // Every acknowledged write is one change of the collection: the client is current once it has them all.
        await using var client = await BenchConnection.ConnectAsync(_target.SyncUrls[^1], hello, _target.Codec, null, (frame, wireBytes) =>
        {
            switch (frame)
            {
                case ChangeFrame:
                    bytes += wireBytes;
                    if (Interlocked.Increment(ref received) == written.Acknowledged)
                    {
                        current.TrySetResult();
                    }
                    break;
                case SnapshotFrame { Last: true }:
                    current.TrySetResult(); // not resumable: the snapshot is the catch-up
                    break;
                case ErrorFrame error:
                    current.TrySetException(new IOException($"the resume was refused: {error.Code} {error.Message}"));
                    break;
            }
        }, cancellationToken);
        using (var reporting = new Timer(_ => _target.Progress.WriteLine($"  {Interlocked.Read(ref received):N0} changes received"), null, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2)))
        {
            try
            {
                await current.Task.WaitAsync(TimeSpan.FromMinutes(10), cancellationToken);
            }
            catch (TimeoutException)
            {
                _target.Progress.WriteLine($"  received {Interlocked.Read(ref received):N0} of {written.Acknowledged:N0} changes within 10 minutes");
            }
        }
        clock.Stop();
        var after = _target.ReadProcesses();
        long? rssPeak = peak is null ? null : await peak.StopAsync();
        var got = Interlocked.Read(ref received);
        return new CatchupOutcome(changes, written, client.Welcome.Resumable, got, Math.Round(clock.Elapsed.TotalSeconds, 3),
            Math.Round(got / clock.Elapsed.TotalSeconds), got == 0 ? 0 : Math.Round((double)bytes / got, 1),
            rssBefore?.RssBytes, rssPeak, BenchTarget.CpuMicrosecondsPer(rssBefore, after, got));
    }
}
