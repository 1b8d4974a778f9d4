namespace Lockstep.Protocol;

/// <summary><c>hello</c> (§3): opens the session.</summary>
public sealed record HelloFrame(RawJson? Id) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Hello;

    /// <summary>The client installation's stable id.</summary>
    public string? ClientId { get; init; }

    /// <summary>The resume position.</summary>
    public long? Cursor { get; init; }

    /// <summary>The subscriptions to resume at <see cref="Cursor"/>.</summary>
    public IReadOnlyList<SubscriptionSpec>? Subs { get; init; }

    /// <summary>An API key or JWT.</summary>
    public string? Token { get; init; }

    /// <summary>The protocol version the client speaks.</summary>
    public int? Protocol { get; init; }
}

/// <summary>One subscription: the fields of <c>sub</c>, also an entry of <c>hello.subs</c>.</summary>
/// <param name="Sub">The client's name for it.</param>
/// <param name="Collection">The collection.</param>
/// <param name="Filter">The filter, or null for every document.</param>
public sealed record SubscriptionSpec(string Sub, string Collection, RawJson? Filter = null);

/// <summary><c>sub</c> (§4).</summary>
public sealed record SubscribeFrame(RawJson? Id, SubscriptionSpec Subscription) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Subscribe;
}

/// <summary><c>unsub</c> (§4).</summary>
public sealed record UnsubscribeFrame(RawJson? Id, string Sub) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Unsubscribe;
}

/// <summary><c>mut</c> (§5): a batch of operations applied atomically.</summary>
public sealed record MutateFrame(RawJson? Id, long? Mid, IReadOnlyList<MutationOp> Ops) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Mutate;
}

/// <summary><c>call</c> (§5): a server-side mutator.</summary>
public sealed record CallFrame(RawJson? Id, long? Mid, string Name, RawJson? Args) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Call;
}

/// <summary><c>ping</c> (§3).</summary>
public sealed record PingFrame(RawJson? Id) : Frame, IRequestFrame
{
    /// <inheritdoc />
    public override FrameType Type => FrameType.Ping;
}

/// <summary>The kind of a <see cref="MutationOp"/>, numbered as MessagePack numbers it (§11).</summary>
public enum OpKind
{
    /// <summary><c>put</c>: replace the whole document.</summary>
    Put = 0,
    /// <summary><c>patch</c>: set and unset paths.</summary>
    Patch = 1,
    /// <summary><c>inc</c>: add to a number.</summary>
    Inc = 2,
    /// <summary><c>delete</c>: a tombstone.</summary>
    Delete = 3,
}

/// <summary>One operation of a <c>mut</c>.</summary>
/// <param name="Kind">What it does.</param>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
public sealed record MutationOp(OpKind Kind, string Collection, string Id)
{
    /// <summary>The version the document must be at; 0: must not exist.</summary>
    public long? IfVersion { get; init; }

    /// <summary>The document of a put.</summary>
    public RawJson? Doc { get; init; }

    /// <summary>The paths a patch sets (a JSON object).</summary>
    public RawJson? Set { get; init; }

    /// <summary>The paths a patch removes.</summary>
    public IReadOnlyList<string>? Unset { get; init; }

    /// <summary>The path an inc adds to.</summary>
    public string? Path { get; init; }

    /// <summary>What an inc adds (a JSON number).</summary>
    public RawJson? By { get; init; }
}
