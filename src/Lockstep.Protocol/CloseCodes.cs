namespace Lockstep.Protocol;

/// <summary>WebSocket close codes the server uses. 1000–1011 are RFC 6455; 4000–4999 are Lockstep's.</summary>
public static class CloseCodes
{
    /// <summary>Normal closure.</summary>
    public const int Normal = 1000;

    /// <summary>The server is going away (shutting down): reconnect, to another node if there is one.</summary>
    public const int GoingAway = 1001;

    /// <summary>A policy was broken (for example: the first frame was not hello).</summary>
    public const int PolicyViolation = 1008;

    /// <summary>A frame exceeded the server's size limit.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>An unexpected server error.</summary>
    public const int InternalError = 1011;

    /// <summary>Try again later: the server had no room for the session when its hello arrived (<c>overloaded</c>).</summary>
    public const int TryAgainLater = 1013;

    /// <summary>Nothing arrived for longer than the idle timeout.</summary>
    public const int IdleTimeout = 4000;

    /// <summary>The connection's token expired: reconnect with a fresh one.</summary>
    public const int TokenExpired = 4001;

    /// <summary>A frame took longer than the frame timeout to arrive whole (a slow sender holding a buffer).</summary>
    public const int FrameTimeout = 4002;

    /// <summary>A binary frame arrived; protocol version 1 is JSON text only.</summary>
    public const int UnsupportedData = 1003;
}
