namespace Lockstep.Protocol;

/// <summary>The frame types of docs/protocol.md, numbered as the MessagePack encoding numbers them (§11).</summary>
public enum FrameType
{
    /// <summary><c>hello</c>: client → server, opens the session.</summary>
    Hello = 1,
    /// <summary><c>welcome</c>: server → client, answers hello.</summary>
    Welcome = 2,
    /// <summary><c>sub</c>: client → server.</summary>
    Subscribe = 3,
    /// <summary><c>unsub</c>: client → server.</summary>
    Unsubscribe = 4,
    /// <summary><c>mut</c>: client → server, a batch of operations.</summary>
    Mutate = 5,
    /// <summary><c>call</c>: client → server, a server-side mutator.</summary>
    Call = 6,
    /// <summary><c>ping</c>: client → server.</summary>
    Ping = 7,
    /// <summary><c>pong</c>: server → client.</summary>
    Pong = 8,
    /// <summary><c>snapshot</c>: server → client, a page of a subscription's snapshot.</summary>
    Snapshot = 9,
    /// <summary><c>subscribed</c>: server → client, a resumed subscription is live.</summary>
    Subscribed = 10,
    /// <summary><c>chg</c>: server → client, a change in a subscription.</summary>
    Change = 11,
    /// <summary><c>removed</c>: server → client, a document left a subscription.</summary>
    Removed = 12,
    /// <summary><c>pos</c>: server → client, the stream position advanced.</summary>
    Position = 13,
    /// <summary><c>ack</c>: server → client, a write was committed.</summary>
    Ack = 14,
    /// <summary><c>ok</c>: server → client.</summary>
    Ok = 15,
    /// <summary><c>error</c>: server → client, a request failed.</summary>
    Error = 16,
}

/// <summary>The <c>t</c> names of <see cref="FrameType"/>.</summary>
public static class FrameTypes
{
    private static readonly string[] Names =
    [
        "", MessageTypes.Hello, MessageTypes.Welcome, MessageTypes.Subscribe, MessageTypes.Unsubscribe, MessageTypes.Mutate,
        MessageTypes.Call, MessageTypes.Ping, MessageTypes.Pong, MessageTypes.Snapshot, MessageTypes.Subscribed,
        MessageTypes.Change, MessageTypes.Removed, MessageTypes.Position, MessageTypes.Ack, MessageTypes.Ok, MessageTypes.Error,
    ];

    /// <summary>The value of <c>t</c> for <paramref name="type"/>.</summary>
    public static string Name(FrameType type) => Names[(int)type];

    /// <summary>The type named <paramref name="name"/>, if it is one.</summary>
    public static bool TryParse(string? name, out FrameType type)
    {
        for (var i = 1; i < Names.Length; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.Ordinal))
            {
                type = (FrameType)i;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>True for a number that names a frame type.</summary>
    public static bool IsDefined(long number) => number >= 1 && number < Names.Length;
}
