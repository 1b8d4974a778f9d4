using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>Writes each frame record as its JSON object, fields in the order docs/protocol.md shows them.</summary>
internal static class JsonFrameWriter
{
    public static void Write(Utf8JsonWriter w, Frame frame)
    {
        w.WriteStartObject();
        w.WriteString("t", FrameTypes.Name(frame.Type));
        switch (frame)
        {
            case ChangeFrame f:
                w.WriteString("sub", f.Sub);
                w.WriteNumber("seq", f.Seq);
                w.WriteString("id", f.Id);
                w.WriteNumber("v", f.Version);
                Number(w, "mid", f.Mid);
                switch (f.Kind)
                {
                    case ChangeKind.Delta:
                        Raw(w, "set", f.Body ?? new RawJson("{}"));
                        Raw(w, "unset", f.Unset);
                        break;
                    case ChangeKind.Entered:
                        Raw(w, "doc", f.Body ?? new RawJson("{}"));
                        break;
                    default:
                        w.WriteBoolean("del", true);
                        break;
                }
                break;
            case RemovedFrame f:
                w.WriteString("sub", f.Sub);
                w.WriteNumber("seq", f.Seq);
                w.WriteString("id", f.Id);
                w.WriteNumber("v", f.Version);
                Number(w, "mid", f.Mid);
                break;
            case PositionFrame f:
                w.WriteNumber("seq", f.Seq);
                break;
            case AckFrame f:
                Raw(w, "id", f.Id);
                WriteAckFields(w, f);
                break;
            case ErrorFrame f:
                Raw(w, "id", f.Id);
                WriteErrorFields(w, f);
                break;
            case SnapshotFrame f:
                Raw(w, "id", f.Id);
                w.WriteString("sub", f.Sub);
                w.WriteNumber("seq", f.Seq);
                if (f.Reset)
                {
                    w.WriteBoolean("reset", true);
                }
                w.WriteStartArray("docs");
                foreach (var doc in f.Docs)
                {
                    WriteListedDocument(w, doc);
                }
                w.WriteEndArray();
                w.WriteBoolean("last", f.Last);
                break;
            case SubscribedFrame f:
                Raw(w, "id", f.Id);
                w.WriteString("sub", f.Sub);
                w.WriteNumber("seq", f.Seq);
                break;
            case WelcomeFrame f:
                Raw(w, "id", f.Id);
                w.WriteString("session", f.Session);
                w.WriteNumber("head", f.Head);
                w.WriteNumber("horizon", f.Horizon);
                w.WriteNumber("cursor", f.Cursor);
                if (f.Resumable is { } resumable)
                {
                    w.WriteBoolean("resumable", resumable);
                }
                w.WriteNumber("heartbeatMs", f.HeartbeatMs);
                w.WriteNumber("idleTimeoutMs", f.IdleTimeoutMs);
                w.WriteNumber("maxFrameBytes", f.MaxFrameBytes);
                w.WriteNumber("protocol", f.Protocol);
                break;
            case PongFrame f:
                Raw(w, "id", f.Id);
                w.WriteNumber("head", f.Head);
                break;
            case OkFrame f:
                Raw(w, "id", f.Id);
                break;
            case HelloFrame f:
                Raw(w, "id", f.Id);
                if (f.ClientId is not null)
                {
                    w.WriteString("clientId", f.ClientId);
                }
                Number(w, "cursor", f.Cursor);
                if (f.Subs is not null)
                {
                    w.WriteStartArray("subs");
                    foreach (var sub in f.Subs)
                    {
                        w.WriteStartObject();
                        WriteSubscription(w, sub);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                if (f.Token is not null)
                {
                    w.WriteString("token", f.Token);
                }
                Number(w, "protocol", f.Protocol);
                break;
            case SubscribeFrame f:
                Raw(w, "id", f.Id);
                WriteSubscription(w, f.Subscription);
                break;
            case UnsubscribeFrame f:
                Raw(w, "id", f.Id);
                w.WriteString("sub", f.Sub);
                break;
            case MutateFrame f:
                Raw(w, "id", f.Id);
                WriteMutateFields(w, f.Mid, f.Ops);
                break;
            case CallFrame f:
                Raw(w, "id", f.Id);
                WriteCallFields(w, f.Mid, f.Name, f.Args);
                break;
            case PingFrame f:
                Raw(w, "id", f.Id);
                break;
            default:
                throw new ArgumentException($"No JSON spelling for {frame.GetType().Name}.", nameof(frame));
        }
        w.WriteEndObject();
    }

    /// <summary>An ack's fields after <c>t</c> and <c>id</c>: also the body of a REST mutation's answer.</summary>
    public static void WriteAckFields(Utf8JsonWriter w, AckFrame f)
    {
        w.WriteNumber("seq", f.Seq);
        w.WriteStartArray("results");
        foreach (var r in f.Results)
        {
            w.WriteStartObject();
            w.WriteString("collection", r.Collection);
            w.WriteString("id", r.Id);
            w.WriteNumber("v", r.Version);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Raw(w, "result", f.Result);
        if (f.Dup)
        {
            w.WriteBoolean("dup", true);
        }
    }

    /// <summary>An error's fields after <c>t</c> and <c>id</c>.</summary>
    public static void WriteErrorFields(Utf8JsonWriter w, ErrorFrame f)
    {
        w.WriteString("code", f.Code);
        w.WriteString("message", f.Message);
        WriteErrorDetails(w, f);
    }

    /// <summary>What an error adds to its code and message: reason, op, current and dup (socket errors and REST problems alike).</summary>
    public static void WriteErrorDetails(Utf8JsonWriter w, ErrorFrame f)
    {
        if (f.Reason is not null)
        {
            w.WriteString("reason", f.Reason);
        }
        if (f.Op is { } op)
        {
            w.WriteNumber("op", op);
        }
        if (f.Current is { } current)
        {
            w.WritePropertyName("current");
            WriteCurrent(w, current);
        }
        if (f.Dup)
        {
            w.WriteBoolean("dup", true);
        }
    }

    /// <summary><c>{"collection","id","v","doc"|"deleted"}</c>.</summary>
    public static void WriteCurrent(Utf8JsonWriter w, CurrentDocument current)
    {
        w.WriteStartObject();
        w.WriteString("collection", current.Collection);
        w.WriteString("id", current.Id);
        w.WriteNumber("v", current.Version);
        if (current.Doc is { } doc)
        {
            Raw(w, "doc", doc);
        }
        else
        {
            w.WriteBoolean("deleted", true);
        }
        w.WriteEndObject();
    }

    /// <summary><c>{"id","v","doc"}</c>: a snapshot's entry, and a REST listing's.</summary>
    public static void WriteListedDocument(Utf8JsonWriter w, SnapshotDocument doc)
    {
        w.WriteStartObject();
        w.WriteString("id", doc.Id);
        w.WriteNumber("v", doc.Version);
        Raw(w, "doc", doc.Doc);
        w.WriteEndObject();
    }

    /// <summary>A <c>mut</c>'s fields after <c>t</c> and <c>id</c>: <c>mid</c> (when there is one) and <c>ops</c>; also a REST mutation body's.</summary>
    public static void WriteMutateFields(Utf8JsonWriter w, long? mid, IEnumerable<MutationOp> ops)
    {
        Number(w, "mid", mid);
        w.WriteStartArray("ops");
        foreach (var op in ops)
        {
            WriteOp(w, op);
        }
        w.WriteEndArray();
    }

    /// <summary>A <c>call</c>'s fields after <c>t</c> and <c>id</c>: <c>mid</c> (when there is one), <c>name</c> and <c>args</c> (when there are some); also a REST mutation body's.</summary>
    public static void WriteCallFields(Utf8JsonWriter w, long? mid, string name, RawJson? args)
    {
        Number(w, "mid", mid);
        w.WriteString("name", name);
        Raw(w, "args", args);
    }

    private static void WriteSubscription(Utf8JsonWriter w, SubscriptionSpec sub)
    {
        w.WriteString("sub", sub.Sub);
        w.WriteString("collection", sub.Collection);
        Raw(w, "filter", sub.Filter);
    }

    /// <summary>One op of a <c>mut</c> (or of a REST mutation body) as an object: <c>op</c>, <c>collection</c>, <c>id</c>, its kind's fields, <c>ifVersion</c>.</summary>
    public static void WriteOp(Utf8JsonWriter w, MutationOp op)
    {
        w.WriteStartObject();
        w.WriteString("op", op.Kind switch { OpKind.Put => "put", OpKind.Patch => "patch", OpKind.Inc => "inc", _ => "delete" });
        w.WriteString("collection", op.Collection);
        w.WriteString("id", op.Id);
        switch (op.Kind)
        {
            case OpKind.Put:
                Raw(w, "doc", op.Doc);
                break;
            case OpKind.Patch:
                Raw(w, "set", op.Set);
                if (op.Unset is not null)
                {
                    w.WriteStartArray("unset");
                    foreach (var path in op.Unset)
                    {
                        w.WriteStringValue(path);
                    }
                    w.WriteEndArray();
                }
                break;
            case OpKind.Inc:
                if (op.Path is not null)
                {
                    w.WriteString("path", op.Path);
                }
                Raw(w, "by", op.By);
                break;
        }
        Number(w, "ifVersion", op.IfVersion);
        w.WriteEndObject();
    }

    /// <summary>A field holding a JSON value as it is, left out when there is none.</summary>
    internal static void Raw(Utf8JsonWriter w, string name, RawJson? value)
    {
        if (value is { } v)
        {
            w.WritePropertyName(name);
            w.WriteRawValue(v.Json, skipInputValidation: true);
        }
    }

    private static void Number(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }
}
