using System.Text;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench.Scenarios;

/// <summary>
/// The bytes of a snapshot: writes 1,000 documents like the latency scenario's, then one reader subscribes to them;
/// the bytes of every snapshot frame it received (WebSocket headers included), and the documents' own JSON for comparison.
/// </summary>
internal sealed class SnapshotScenario
{
    /// <summary>The documents of the snapshot.</summary>
    public const int Documents = 1000;

    private const int PutsPerMutation = 100;
    private readonly BenchTarget _target;

    public SnapshotScenario(BenchTarget target)
    {
        _target = target;
    }

    public async Task<SnapshotSummary> RunAsync(CancellationToken cancellationToken)
    {
        var collection = BenchWrites.NewCollection("s");
        var run = BenchWrites.NewRun();
        await using var writer = await _target.ConnectAsync(0, $"bench-{run}-writer", cancellationToken);
        using var replies = new SemaphoreSlim(0);
        writer.OnFrame = (_, _) => replies.Release();
        var documentBytes = 0L;
        var mutations = 0;
        for (var first = 0; first < Documents; first += PutsPerMutation)
        {
            var ops = new List<MutationOp>(PutsPerMutation);
            for (var d = first; d < Math.Min(Documents, first + PutsPerMutation); d++)
            {
                var op = BenchWrites.Put(collection, d);
                documentBytes += Encoding.UTF8.GetByteCount(op.Doc!.Value.Json);
                ops.Add(op);
            }
            await writer.SendAsync(new MutateFrame(RawJson.Number(mutations++), null, ops), cancellationToken);
        }
        for (var m = 0; m < mutations; m++)
        {
            await replies.WaitAsync(cancellationToken);
        }

        await using var reader = await _target.ConnectAsync(1, $"bench-{run}-reader", cancellationToken);
        var bytes = 0L;
        var frames = 0;
        var received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        reader.OnFrame = (frame, wireBytes) =>
        {
            if (frame is SnapshotFrame snapshot)
            {
                bytes += wireBytes;
                frames++;
                received += snapshot.Docs.Count;
                if (snapshot.Last)
                {
                    done.TrySetResult();
                }
            }
            else if (frame is ErrorFrame error)
            {
                done.TrySetException(new IOException($"The subscription was refused: {error.Code} {error.Message}"));
            }
        };
        await reader.SendAsync(new SubscribeFrame(RawJson.Number(1), new SubscriptionSpec("s", collection)), cancellationToken);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        if (received != Documents)
        {
            _target.Progress.WriteLine($"  the snapshot held {received} documents, not {Documents}");
        }
        return new SnapshotSummary(received, frames, bytes, documentBytes);
    }
}
