namespace Lockstep.Protocol;

/// <summary>
/// The positional frames' layouts (docs/protocol.md §11): the JSON name of each element after the type number.
/// Keep in sync with <see cref="MessagePackFrameWriter"/> and clients/typescript's codec.
/// </summary>
internal static class MessagePackLayouts
{
    public static readonly string[] Mutate = ["id", "mid", "ops"];
    public static readonly string[] Snapshot = ["id", "sub", "seq", "docs", "last", "reset"];
    public static readonly string[] Change = ["sub", "seq", "id", "v", "kind", "body", "unset", "mid"];
    public static readonly string[] Removed = ["sub", "seq", "id", "v", "mid"];
    public static readonly string[] Position = ["seq"];
    public static readonly string[] Ack = ["id", "seq", "results", "result", "dup"];
    public static readonly string[] SnapshotDocument = ["id", "v", "doc"];
    public static readonly string[] WrittenVersion = ["collection", "id", "v"];

    /// <summary>An op's common head: <c>[op, collection, id, ifVersion, …]</c>.</summary>
    public static readonly string[] OpHead = ["op", "collection", "id", "ifVersion"];

    /// <summary>The fields after the head, by <see cref="OpKind"/>.</summary>
    public static readonly string[][] OpTail = [["doc"], ["set", "unset"], ["path", "by"], []];

    public static readonly string[] OpNames = ["put", "patch", "inc", "delete"];

    /// <summary>The layout of a positional frame type, or null for a map-form one.</summary>
    public static string[]? For(FrameType type) => type switch
    {
        FrameType.Mutate => Mutate,
        FrameType.Snapshot => Snapshot,
        FrameType.Change => Change,
        FrameType.Removed => Removed,
        FrameType.Position => Position,
        FrameType.Ack => Ack,
        _ => null,
    };
}
