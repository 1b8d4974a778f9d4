namespace Lockstep.Client;

/// <summary>How frames are spelt on the connection (docs/protocol.md §11), chosen with the WebSocket subprotocol.</summary>
public enum LockstepEncoding
{
    /// <summary><c>lockstep.v1.json</c>: one JSON object per text message; every server speaks it.</summary>
    Json = 0,

    /// <summary><c>lockstep.v1.msgpack</c>: one MessagePack array per binary message, smaller on the wire; the server must speak it.</summary>
    MessagePack = 1,
}
