namespace Lockstep.Protocol;

/// <summary>The values of the <c>t</c> field of every frame (docs/protocol.md).</summary>
public static class MessageTypes
{
    /// <summary>Client → server: opens the session.</summary>
    public const string Hello = "hello";
    /// <summary>Server → client: answers hello.</summary>
    public const string Welcome = "welcome";
    /// <summary>Client → server: subscribes to a collection with an optional filter.</summary>
    public const string Subscribe = "sub";
    /// <summary>Client → server: ends a subscription.</summary>
    public const string Unsubscribe = "unsub";
    /// <summary>Client → server: applies a batch of operations atomically.</summary>
    public const string Mutate = "mut";
    /// <summary>Client → server: calls a server-side mutator.</summary>
    public const string Call = "call";
    /// <summary>Client → server: heartbeat.</summary>
    public const string Ping = "ping";
    /// <summary>Server → client: heartbeat answer.</summary>
    public const string Pong = "pong";
    /// <summary>Server → client: a page of a subscription's initial snapshot.</summary>
    public const string Snapshot = "snapshot";
    /// <summary>Server → client: a resumed subscription is live.</summary>
    public const string Subscribed = "subscribed";
    /// <summary>Server → client: a change to a document in a subscription.</summary>
    public const string Change = "chg";
    /// <summary>Server → client: a document left a subscription's filter.</summary>
    public const string Removed = "removed";
    /// <summary>Server → client: the stream position advanced with nothing for this connection.</summary>
    public const string Position = "pos";
    /// <summary>Server → client: a write was committed.</summary>
    public const string Ack = "ack";
    /// <summary>Server → client: a request succeeded with nothing else to say.</summary>
    public const string Ok = "ok";
    /// <summary>Server → client: a request failed.</summary>
    public const string Error = "error";
}
