using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Client;

/// <summary>A write the server has not confirmed yet: kept, in order, until it is acknowledged and its changes are seen.</summary>
internal sealed class PendingWrite
{
    private readonly TaskCompletionSource<WriteAck> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PendingWrite(long mid, JsonObject frame, IReadOnlyList<DocumentOp> ops)
    {
        Mid = mid;
        Frame = frame;
        Ops = ops;
        // Nobody may be waiting (a write restored from the local store): its failure is still logged, never unobserved.
        _ = _completion.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public long Mid { get; }

    /// <summary>The <c>mut</c> or <c>call</c> frame, with its <c>mid</c>.</summary>
    public JsonObject Frame { get; }

    /// <summary>The ops, for the optimistic local view (empty for mutator calls).</summary>
    public IReadOnlyList<DocumentOp> Ops { get; }

    /// <summary>Set when acknowledged; the write then stays in the local view until the stream passes its seq.</summary>
    public WriteAck? Ack { get; private set; }

    /// <summary>Documents whose own change frame (carrying this write's mid) has arrived: the confirmed state already holds it.</summary>
    public HashSet<(string Collection, string Id)> Seen { get; } = [];

    /// <summary>When the frame was last sent on the current connection (Environment.TickCount64), or null when not in flight.</summary>
    public long? SentAt { get; set; }

    public int TransientFailures { get; set; }

    public Task<WriteAck> Completion => _completion.Task;

    /// <summary>True when op <paramref name="index"/> is already part of the confirmed document at <paramref name="confirmedVersion"/>.</summary>
    public bool IsReflected(int index, long confirmedVersion)
    {
        var op = Ops[index];
        if (Seen.Contains((op.Collection, op.Id)))
        {
            return true;
        }
        return Ack is { } ack && index < ack.Results.Count && confirmedVersion >= ack.Results[index].Version;
    }

    public void Succeed(WriteAck ack)
    {
        Ack = ack;
        _completion.TrySetResult(ack);
    }

    public void Fail(Exception error) => _completion.TrySetException(error);
}
