using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>Reads a parsed JSON frame into its record. A field of the wrong type is a <see cref="FrameFormatException"/> naming it.</summary>
internal static class JsonFrameReader
{
    /// <summary><see cref="Read"/>, with any surprise of the JSON API (a value of an unexpected kind somewhere deep) as the frame's refusal, never another exception.</summary>
    public static Frame ReadChecked(JsonElement root)
    {
        try
        {
            return Read(root);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new FrameFormatException($"Not a frame: {e.Message}", e);
        }
    }

    public static Frame Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FrameFormatException("A frame is a JSON object.");
        }
        var name = root.TryGetProperty("t", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (name is null)
        {
            throw new FrameFormatException("A frame has a string field 't'.");
        }
        if (!FrameTypes.TryParse(name, out var type))
        {
            throw new FrameFormatException(ErrorCodes.UnknownType, $"Unknown frame type '{name}'.");
        }
        var id = Raw(root, "id");
        return type switch
        {
            FrameType.Hello => new HelloFrame(id)
            {
                ClientId = OptionalString(root, "clientId"),
                Cursor = OptionalLong(root, "cursor"),
                Subs = root.TryGetProperty("subs", out var subs) && subs.ValueKind == JsonValueKind.Array ? [.. subs.EnumerateArray().Select(Subscription)] : null,
                Token = OptionalString(root, "token"),
                Protocol = (int?)OptionalLong(root, "protocol"),
            },
            FrameType.Subscribe => new SubscribeFrame(id, Subscription(root)),
            FrameType.Unsubscribe => new UnsubscribeFrame(id, String(root, "sub")),
            FrameType.Mutate => new MutateFrame(id, OptionalLong(root, "mid"), [.. Array(root, "ops").EnumerateArray().Select(Op)]),
            FrameType.Call => new CallFrame(id, OptionalLong(root, "mid"), String(root, "name"), Raw(root, "args")),
            FrameType.Ping => new PingFrame(id),
            FrameType.Welcome => new WelcomeFrame(id, String(root, "session"), Long(root, "head"), Long(root, "horizon"), Long(root, "cursor"))
            {
                Resumable = OptionalBool(root, "resumable"),
                HeartbeatMs = Long(root, "heartbeatMs"),
                IdleTimeoutMs = Long(root, "idleTimeoutMs"),
                MaxFrameBytes = Long(root, "maxFrameBytes"),
                Protocol = (int)(OptionalLong(root, "protocol") ?? 1),
            },
            FrameType.Pong => new PongFrame(id, Long(root, "head")),
            FrameType.Snapshot => new SnapshotFrame(id, String(root, "sub"), Long(root, "seq"),
                [.. Array(root, "docs").EnumerateArray().Select(d => new SnapshotDocument(String(d, "id"), Long(d, "v"), Raw(d, "doc") ?? new RawJson("{}")))],
                OptionalBool(root, "last") ?? false)
            {
                Reset = OptionalBool(root, "reset") ?? false,
            },
            FrameType.Subscribed => new SubscribedFrame(id, String(root, "sub"), Long(root, "seq")),
            FrameType.Change => Change(root),
            FrameType.Removed => new RemovedFrame(String(root, "sub"), Long(root, "seq"), String(root, "id"), Long(root, "v")) { Mid = OptionalLong(root, "mid") },
            FrameType.Position => new PositionFrame(Long(root, "seq")),
            FrameType.Ack => Ack(root, id),
            FrameType.Ok => new OkFrame(id),
            _ => Error(root, id),
        };
    }

    /// <summary>An ack's fields after <c>t</c> and <c>id</c> (<c>seq</c>, <c>results</c>, <c>result</c>, <c>dup</c>): also the body of a REST mutation's answer.</summary>
    public static AckFrame Ack(JsonElement root, RawJson? id) =>
        new(id, Long(root, "seq"), [.. Array(root, "results").EnumerateArray().Select(r => new WrittenVersion(String(r, "collection"), String(r, "id"), Long(r, "v")))])
        {
            Result = Raw(root, "result"),
            Dup = OptionalBool(root, "dup") ?? false,
        };

    private static ChangeFrame Change(JsonElement root)
    {
        var kind = OptionalBool(root, "del") == true ? ChangeKind.Deleted : Raw(root, "doc") is not null ? ChangeKind.Entered : ChangeKind.Delta;
        return new ChangeFrame(String(root, "sub"), Long(root, "seq"), String(root, "id"), Long(root, "v"), kind)
        {
            Mid = OptionalLong(root, "mid"),
            Body = kind switch { ChangeKind.Delta => Raw(root, "set") ?? new RawJson("{}"), ChangeKind.Entered => Raw(root, "doc"), _ => null },
            Unset = kind == ChangeKind.Delta ? Raw(root, "unset") : null,
        };
    }

    private static ErrorFrame Error(JsonElement root, RawJson? id) => new(id, String(root, "code"), OptionalString(root, "message") ?? "")
    {
        Reason = OptionalString(root, "reason"),
        Op = (int?)OptionalLong(root, "op"),
        Current = root.TryGetProperty("current", out var c) && c.ValueKind == JsonValueKind.Object
            ? new CurrentDocument(String(c, "collection"), String(c, "id"), Long(c, "v"), OptionalBool(c, "deleted") == true ? null : Raw(c, "doc"))
            : null,
        Dup = OptionalBool(root, "dup") ?? false,
    };

    private static SubscriptionSpec Subscription(JsonElement e) => new(String(e, "sub"), String(e, "collection"), Raw(e, "filter"));

    private static MutationOp Op(JsonElement e)
    {
        var kind = OptionalString(e, "op") switch
        {
            "put" => OpKind.Put,
            "patch" => OpKind.Patch,
            "inc" => OpKind.Inc,
            "delete" => OpKind.Delete,
            var other => throw new FrameFormatException(ErrorCodes.InvalidRequest, $"Unknown op '{other}'."),
        };
        return new MutationOp(kind, String(e, "collection"), String(e, "id"))
        {
            IfVersion = OptionalLong(e, "ifVersion"),
            Doc = Raw(e, "doc"),
            Set = Raw(e, "set"),
            Unset = e.TryGetProperty("unset", out var unset) && unset.ValueKind == JsonValueKind.Array ? [.. unset.EnumerateArray().Select(p => p.ValueKind == JsonValueKind.String ? p.GetString()! : throw Wrong("unset", "an array of strings"))] : null,
            Path = OptionalString(e, "path"),
            By = Raw(e, "by"),
        };
    }

    private static RawJson? Raw(JsonElement e, string name) =>
        Object(e).TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? new RawJson(v.GetRawText()) : null;

    private static JsonElement Array(JsonElement e, string name) =>
        Object(e).TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v : throw Wrong(name, "an array");

    private static string String(JsonElement e, string name) => OptionalString(e, name) ?? throw Wrong(name, "a string");

    private static long Long(JsonElement e, string name) => OptionalLong(e, name) ?? throw Wrong(name, "an integer");

    private static string? OptionalString(JsonElement e, string name)
    {
        if (!Object(e).TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(name, "a string");
    }

    private static long? OptionalLong(JsonElement e, string name)
    {
        if (!Object(e).TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : throw Wrong(name, "an integer");
    }

    private static bool? OptionalBool(JsonElement e, string name)
    {
        if (!Object(e).TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Wrong(name, "true or false") };
    }

    /// <summary>The element, when it is an object: an item of ops, subs, docs or results that is not one is refused, not a crash.</summary>
    private static JsonElement Object(JsonElement e) => e.ValueKind == JsonValueKind.Object ? e : throw new FrameFormatException(ErrorCodes.BadFrame, $"Expected a JSON object, not {e.ValueKind}.");

    private static FrameFormatException Wrong(string name, string what) => new(ErrorCodes.InvalidRequest, $"'{name}' must be {what}.");
}
