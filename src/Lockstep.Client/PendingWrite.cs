using System.Buffers;
using System.Text;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>A write the server has not confirmed yet: kept, in order, until it is acknowledged and its changes are seen.</summary>
internal sealed class PendingWrite
{
    private readonly TaskCompletionSource<WriteAck> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PendingWrite(long mid, Frame frame, IReadOnlyList<DocumentOp> ops)
    {
        Mid = mid;
        Frame = frame;
        Ops = ops;
        // Nobody may be waiting (a write restored from the local store): its failure is still logged, never unobserved.
        _ = _completion.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public long Mid { get; }

    /// <summary>The <c>mut</c> or <c>call</c> frame, with its <c>mid</c> and the id its answer comes back with.</summary>
    public Frame Frame { get; }

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

    /// <summary>The frame as the local store keeps it: its JSON spelling.</summary>
    public static string ToStoredText(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>(256);
        FrameCodecs.Json.Write(frame, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>
    /// Reads a write back from the local store (written by <see cref="ToStoredText"/>, or by a client of before the
    /// codecs: the same JSON without an id); null when it is not a <c>mut</c> or <c>call</c> this client could send.
    /// </summary>
    public static PendingWrite? FromStoredText(long mid, string text)
    {
        Frame frame;
        try
        {
            frame = FrameCodecs.Json.Read(Encoding.UTF8.GetBytes(text));
        }
        catch (FrameFormatException)
        {
            return null;
        }
        var id = RequestIds.ForWrite(mid);
        return frame switch
        {
            MutateFrame m => new PendingWrite(mid, m with { Id = id, Mid = mid }, [.. m.Ops.Select(WriteOp.Parse).OfType<DocumentOp>()]),
            CallFrame c => new PendingWrite(mid, c with { Id = id, Mid = mid }, []),
            _ => null,
        };
    }
}
