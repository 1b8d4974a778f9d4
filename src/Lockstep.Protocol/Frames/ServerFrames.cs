namespace Lockstep.Protocol;

/// <summary><c>welcome</c> (§3).</summary>
public sealed record WelcomeFrame(RawJson? Id, string Session, long Head, long Horizon, long Cursor) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Welcome;

    /// <summary>Whether the hello's cursor was accepted; null when none was sent.</summary>
    public bool? Resumable { get; init; }

    /// <summary>The heartbeat interval, ms.</summary>
    public long HeartbeatMs { get; init; }

    /// <summary>The idle timeout, ms.</summary>
    public long IdleTimeoutMs { get; init; }

    /// <summary>The frame size limit, bytes.</summary>
    public long MaxFrameBytes { get; init; }

    /// <summary>The protocol version.</summary>
    public int Protocol { get; init; } = 1;
}

/// <summary><c>pong</c> (§3).</summary>
public sealed record PongFrame(RawJson? Id, long Head) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Pong;
}

/// <summary>One document of a snapshot page: <c>{"id","v","doc"}</c>.</summary>
/// <param name="Id">The document id.</param>
/// <param name="Version">Its version.</param>
/// <param name="Doc">The document.</param>
public sealed record SnapshotDocument(string Id, long Version, RawJson Doc);

/// <summary><c>snapshot</c> (§4): one page of a subscription's snapshot.</summary>
public sealed record SnapshotFrame(RawJson? Id, string Sub, long Seq, IReadOnlyList<SnapshotDocument> Docs, bool Last) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Snapshot;

    /// <summary>True on the first page of a snapshot that replaces what the client held (§6, §8).</summary>
    public bool Reset { get; init; }
}

/// <summary><c>subscribed</c> (§6): a resumed subscription is live at <see cref="Seq"/>.</summary>
public sealed record SubscribedFrame(RawJson? Id, string Sub, long Seq) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Subscribed;
}

/// <summary>What a <c>chg</c> says happened, numbered as MessagePack numbers it (§11).</summary>
public enum ChangeKind
{
    /// <summary>The delta: <c>set</c> and maybe <c>unset</c>.</summary>
    Delta = 0,
    /// <summary>The document entered the subscription: the whole <c>doc</c>.</summary>
    Entered = 1,
    /// <summary>The document was deleted: <c>del</c>.</summary>
    Deleted = 2,
}

/// <summary><c>chg</c> (§4).</summary>
/// <param name="Sub">The subscription.</param>
/// <param name="Seq">The change's seq.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The document's version after the change.</param>
/// <param name="Kind">Delta, entered or deleted.</param>
public sealed record ChangeFrame(string Sub, long Seq, string Id, long Version, ChangeKind Kind) : Frame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Change;

    /// <summary>The connection's own mutation number, on its own changes only.</summary>
    public long? Mid { get; init; }

    /// <summary>A delta's <c>set</c> (a JSON object), or an entered document's <c>doc</c>.</summary>
    public RawJson? Body { get; init; }

    /// <summary>A delta's <c>unset</c> (a JSON array of paths), when it removed something.</summary>
    public RawJson? Unset { get; init; }
}

/// <summary><c>removed</c> (§4): a document left a subscription's filter.</summary>
public sealed record RemovedFrame(string Sub, long Seq, string Id, long Version) : Frame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Removed;

    /// <summary>The connection's own mutation number, on its own changes only.</summary>
    public long? Mid { get; init; }
}

/// <summary><c>pos</c> (§4): nothing for this connection up to <see cref="Seq"/>.</summary>
public sealed record PositionFrame(long Seq) : Frame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Position;
}

/// <summary>One entry of an ack's <c>results</c>.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The version the write produced.</param>
public sealed record WrittenVersion(string Collection, string Id, long Version);

/// <summary><c>ack</c> (§5): a write was committed. Also the body of a REST mutation's answer.</summary>
public sealed record AckFrame(RawJson? Id, long Seq, IReadOnlyList<WrittenVersion> Results) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Ack;

    /// <summary>A mutator's result, when it returned one.</summary>
    public RawJson? Result { get; init; }

    /// <summary>True on a replayed outcome.</summary>
    public bool Dup { get; init; }
}

/// <summary><c>ok</c> (§4).</summary>
public sealed record OkFrame(RawJson? Id) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Ok;
}

/// <summary>A document as it stands: <c>{"collection","id","v","doc"|"deleted"}</c> (an error's <c>current</c>).</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">Its version.</param>
/// <param name="Doc">The document, or null for a tombstone.</param>
public sealed record CurrentDocument(string Collection, string Id, long Version, RawJson? Doc);

/// <summary><c>error</c> (§7).</summary>
public sealed record ErrorFrame(RawJson? Id, string Code, string Message) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Error;

    /// <summary>A mutator's own reason.</summary>
    public string? Reason { get; init; }

    /// <summary>The index of the failing op.</summary>
    public int? Op { get; init; }

    /// <summary>The document as it stands (a version conflict).</summary>
    public CurrentDocument? Current { get; init; }

    /// <summary>True on a replayed outcome.</summary>
    public bool Dup { get; init; }
}
