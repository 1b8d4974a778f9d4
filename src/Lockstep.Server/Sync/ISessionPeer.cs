using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// What a session's parts (the dispatcher, the stream) need of the connection they serve: who is on it, a way to
/// answer and to send, the pump's queue, and the close. <see cref="SyncSession"/> is the one over a WebSocket; a
/// test can stand in for it without a socket.
/// </summary>
internal interface ISessionPeer
{
    string Id { get; }

    /// <summary>The hello's client id, scoped to the caller; null when the client gave none.</summary>
    string? ClientId { get; }

    /// <summary>Who is on the other end (set by the hello).</summary>
    Caller? Caller { get; }

    /// <summary>Encodes a reply to a request in the connection's encoding and sends it.</summary>
    ValueTask ReplyAsync(Frame frame, CancellationToken cancellationToken);

    /// <summary>Encodes a frame of the stream (snapshot, change, position) in the connection's encoding and sends it.</summary>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken);

    /// <summary>The connection's encoding.</summary>
    IFrameCodec Codec { get; }

    /// <summary>Sends a frame encoded once for many connections, addressed to this connection's subscription <paramref name="sub"/>.</summary>
    ValueTask SendSharedAsync(SharedFrame frame, string sub, CancellationToken cancellationToken);

    /// <summary>Queues a command for the pump.</summary>
    void Enqueue(SessionCommand command);

    /// <summary>Closes the connection with a WebSocket close code and reason.</summary>
    Task CloseAsync(int code, string reason);
}

/// <summary>An error reply, built one way for every part of the session.</summary>
internal static class SessionPeerReplies
{
    public static ValueTask ReplyErrorAsync(this ISessionPeer peer, JsonElement id, Rejection rejection, CancellationToken cancellationToken) =>
        peer.ReplyAsync(Frames.Error(Frames.Id(id), rejection), cancellationToken);

    public static ValueTask ReplyErrorAsync(this ISessionPeer peer, JsonElement id, ErrorCode code, string message, CancellationToken cancellationToken) =>
        peer.ReplyErrorAsync(id, new Rejection(code, message), cancellationToken);
}
