using System.Buffers;
using MessagePack;

namespace Lockstep.Protocol;

/// <summary>Writes each frame record in the MessagePack encoding (docs/protocol.md §11), trailing absent fields left out.</summary>
internal static class MessagePackFrameWriter
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    public static void Write(ref MessagePackWriter w, Frame frame)
    {
        switch (frame)
        {
            case ChangeFrame f:
                var length = f.Mid is not null ? 9 : f.Unset is not null ? 8 : f.Body is not null ? 7 : 6;
                w.WriteArrayHeader(length);
                w.Write((int)FrameType.Change);
                w.Write(f.Sub);
                w.Write(f.Seq);
                w.Write(f.Id);
                w.Write(f.Version);
                w.Write((int)f.Kind);
                if (length > 6)
                {
                    Value(ref w, f.Body);
                }
                if (length > 7)
                {
                    Value(ref w, f.Unset);
                }
                if (length > 8)
                {
                    w.Write(f.Mid!.Value);
                }
                break;
            case RemovedFrame f:
                w.WriteArrayHeader(f.Mid is null ? 5 : 6);
                w.Write((int)FrameType.Removed);
                w.Write(f.Sub);
                w.Write(f.Seq);
                w.Write(f.Id);
                w.Write(f.Version);
                if (f.Mid is { } mid)
                {
                    w.Write(mid);
                }
                break;
            case PositionFrame f:
                w.WriteArrayHeader(2);
                w.Write((int)FrameType.Position);
                w.Write(f.Seq);
                break;
            case SnapshotFrame f:
                w.WriteArrayHeader(f.Reset ? 7 : 6);
                w.Write((int)FrameType.Snapshot);
                Value(ref w, f.Id);
                w.Write(f.Sub);
                w.Write(f.Seq);
                w.WriteArrayHeader(f.Docs.Count);
                foreach (var doc in f.Docs)
                {
                    w.WriteArrayHeader(3);
                    w.Write(doc.Id);
                    w.Write(doc.Version);
                    MessagePackValues.WriteJson(ref w, doc.Doc.Json);
                }
                w.Write(f.Last);
                if (f.Reset)
                {
                    w.Write(true);
                }
                break;
            case AckFrame f:
                w.WriteArrayHeader(f.Dup ? 6 : f.Result is not null ? 5 : 4);
                w.Write((int)FrameType.Ack);
                Value(ref w, f.Id);
                w.Write(f.Seq);
                w.WriteArrayHeader(f.Results.Count);
                foreach (var r in f.Results)
                {
                    w.WriteArrayHeader(3);
                    w.Write(r.Collection);
                    w.Write(r.Id);
                    w.Write(r.Version);
                }
                if (f.Dup || f.Result is not null)
                {
                    Value(ref w, f.Result);
                }
                if (f.Dup)
                {
                    w.Write(true);
                }
                break;
            case MutateFrame f:
                w.WriteArrayHeader(4);
                w.Write((int)FrameType.Mutate);
                Value(ref w, f.Id);
                if (f.Mid is { } m)
                {
                    w.Write(m);
                }
                else
                {
                    w.WriteNil();
                }
                w.WriteArrayHeader(f.Ops.Count);
                foreach (var op in f.Ops)
                {
                    WriteOp(ref w, op);
                }
                break;
            default:
                // The map form: the JSON object's fields but t, under their names.
                var scratch = t_scratch ??= new ArrayBufferWriter<byte>(1024);
                scratch.ResetWrittenCount();
                var json = JsonCodecText.Writer(scratch);
                JsonFrameWriter.Write(json, frame);
                json.Flush();
                w.WriteArrayHeader(2);
                w.Write((int)frame.Type);
                MessagePackValues.WriteJson(ref w, scratch.WrittenSpan, "t"u8);
                break;
        }
    }

    private static void WriteOp(ref MessagePackWriter w, MutationOp op)
    {
        var length = op.Kind switch
        {
            OpKind.Put => 5,
            OpKind.Patch => op.Unset is not null ? 6 : 5,
            OpKind.Inc => 6,
            _ => op.IfVersion is null ? 3 : 4,
        };
        w.WriteArrayHeader(length);
        w.Write((int)op.Kind);
        w.Write(op.Collection);
        w.Write(op.Id);
        if (length == 3)
        {
            return;
        }
        if (op.IfVersion is { } ifVersion)
        {
            w.Write(ifVersion);
        }
        else
        {
            w.WriteNil();
        }
        switch (op.Kind)
        {
            case OpKind.Put:
                Value(ref w, op.Doc);
                break;
            case OpKind.Patch:
                Value(ref w, op.Set);
                if (op.Unset is not null)
                {
                    w.WriteArrayHeader(op.Unset.Count);
                    foreach (var path in op.Unset)
                    {
                        w.Write(path);
                    }
                }
                break;
            case OpKind.Inc:
                if (op.Path is null)
                {
                    w.WriteNil();
                }
                else
                {
                    w.Write(op.Path);
                }
                Value(ref w, op.By);
                break;
        }
    }

    private static void Value(ref MessagePackWriter w, RawJson? value)
    {
        if (value is { } v)
        {
            MessagePackValues.WriteJson(ref w, v.Json);
        }
        else
        {
            w.WriteNil();
        }
    }
}
