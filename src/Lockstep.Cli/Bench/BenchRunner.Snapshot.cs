using System.Globalization;
using System.Text;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

internal sealed partial class BenchRunner
{
    /// <summary>The documents of the snapshot phase.</summary>
    public const int SnapshotDocuments = 1000;

    private const int PutsPerMutation = 100;

    /// <summary>
    /// Writes 1,000 documents like the latency phase's, then one reader subscribes to them: the bytes of every
    /// snapshot frame it received (WebSocket headers included), and the documents' own JSON for comparison.
    /// </summary>
    public async Task<SnapshotSummary> MeasureSnapshotAsync(CancellationToken cancellationToken)
    {
        var collection = "bench-s-" + Guid.NewGuid().ToString("N")[..8];
        var run = Guid.NewGuid().ToString("N")[..8];
        await using var writer = await ConnectAsync(0, $"bench-{run}-writer", cancellationToken);
        var replies = new SemaphoreSlim(0);
        writer.OnFrame = (_, _) => replies.Release();
        var documentBytes = 0L;
        var mutations = 0;
        for (var first = 0; first < SnapshotDocuments; first += PutsPerMutation)
        {
            var ops = new List<MutationOp>(PutsPerMutation);
            for (var d = first; d < Math.Min(SnapshotDocuments, first + PutsPerMutation); d++)
            {
                var doc = Document(d);
                documentBytes += Encoding.UTF8.GetByteCount(doc.Json);
                ops.Add(new MutationOp(OpKind.Put, collection, "d" + d.ToString(CultureInfo.InvariantCulture)) { Doc = doc });
            }
            await writer.SendAsync(new MutateFrame(RawJson.Number(mutations++), null, ops), cancellationToken);
        }
        for (var m = 0; m < mutations; m++)
        {
            await replies.WaitAsync(cancellationToken);
        }

        await using var reader = await ConnectAsync(1, $"bench-{run}-reader", cancellationToken);
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
        if (received != SnapshotDocuments)
        {
            _progress.WriteLine($"  the snapshot held {received} documents, not {SnapshotDocuments}");
        }
        return new SnapshotSummary(received, frames, bytes, documentBytes);
    }
}
