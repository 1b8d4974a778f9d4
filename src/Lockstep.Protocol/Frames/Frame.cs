namespace Lockstep.Protocol;

/// <summary>
/// One message of docs/protocol.md. Each frame type is a record deriving from this; an
/// <see cref="IFrameCodec"/> turns them into the bytes of one encoding and back.
/// </summary>
public abstract record Frame
{
    /// <summary>The frame's type.</summary>
    public abstract FrameType Type { get; }
}

/// <summary>A frame that answers a request, or is one: it carries the request's <c>id</c>.</summary>
public interface IRequestFrame
{
    /// <summary>The request id as the client chose it (a JSON number or string); null on frames the server sends on its own.</summary>
    RawJson? Id { get; }
}
