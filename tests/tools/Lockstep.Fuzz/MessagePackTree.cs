using System.Buffers.Binary;
using System.Text;

namespace Lockstep.Fuzz;

/// <summary>
/// A MessagePack value as a tree the fuzzer can change and write back: a scalar keeps its bytes as they came
/// (so an odd but valid encoding survives), an array its items, a map its pairs. Written by hand, not with the
/// MessagePack library, so the fuzzer can spell anything — a header claiming 2³²−1 items, a non-minimal int.
/// </summary>
public abstract class MessagePackNode
{
    public abstract void WriteTo(List<byte> output);

    public byte[] ToBytes()
    {
        var output = new List<byte>();
        WriteTo(output);
        return [.. output];
    }

    /// <summary>Every node of the tree, this one first (map keys included).</summary>
    public IEnumerable<MessagePackNode> Walk()
    {
        yield return this;
        var children = this switch
        {
            MessagePackArray a => a.Items,
            MessagePackMap m => m.Pairs.SelectMany(p => new[] { p.Key, p.Value }),
            _ => [],
        };
        foreach (var child in children.ToList())
        {
            foreach (var node in child.Walk())
            {
                yield return node;
            }
        }
    }

    /// <summary>Replaces <paramref name="old"/> (a node below this one) with <paramref name="replacement"/>; false when not found.</summary>
    public bool Replace(MessagePackNode old, MessagePackNode replacement)
    {
        switch (this)
        {
            case MessagePackArray a:
                for (var i = 0; i < a.Items.Count; i++)
                {
                    if (ReferenceEquals(a.Items[i], old))
                    {
                        a.Items[i] = replacement;
                        return true;
                    }
                    if (a.Items[i].Replace(old, replacement))
                    {
                        return true;
                    }
                }
                return false;
            case MessagePackMap m:
                for (var i = 0; i < m.Pairs.Count; i++)
                {
                    var (k, v) = m.Pairs[i];
                    if (ReferenceEquals(k, old) || ReferenceEquals(v, old))
                    {
                        m.Pairs[i] = ReferenceEquals(k, old) ? (replacement, v) : (k, replacement);
                        return true;
                    }
                    if (k.Replace(old, replacement) || v.Replace(old, replacement))
                    {
                        return true;
                    }
                }
                return false;
            default:
                return false;
        }
    }

    /// <summary>Parses one well-formed value (the golden frames); throws on anything else.</summary>
    public static MessagePackNode Parse(byte[] bytes)
    {
        var at = 0;
        var node = Parse(bytes, ref at);
        return at == bytes.Length ? node : throw new FormatException("trailing bytes");
    }

    private static MessagePackNode Parse(byte[] b, ref int at)
    {
        var start = at;
        var code = b[at++];
        int count;
        switch (code)
        {
            case <= 0x7f or >= 0xe0 or 0xc0 or 0xc2 or 0xc3:
                return new MessagePackScalar(b[start..at]);
            case >= 0x80 and <= 0x8f:
                return ParseMap(b, ref at, code & 0x0f);
            case >= 0x90 and <= 0x9f:
                return ParseArray(b, ref at, code & 0x0f);
            case >= 0xa0 and <= 0xbf:
                at += code & 0x1f;
                return new MessagePackScalar(b[start..at]);
            case 0xdc or 0xde:
                count = BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(at));
                at += 2;
                return code == 0xdc ? ParseArray(b, ref at, count) : ParseMap(b, ref at, count);
            case 0xdd or 0xdf:
                count = checked((int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(at)));
                at += 4;
                return code == 0xdd ? ParseArray(b, ref at, count) : ParseMap(b, ref at, count);
            case 0xcc or 0xd0:
                at += 1;
                break;
            case 0xcd or 0xd1:
                at += 2;
                break;
            case 0xce or 0xd2 or 0xca:
                at += 4;
                break;
            case 0xcf or 0xd3 or 0xcb:
                at += 8;
                break;
            case 0xd9 or 0xc4:
                at += 1 + b[at];
                break;
            case 0xda or 0xc5:
                at += 2 + BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(at));
                break;
            case 0xdb or 0xc6:
                at += 4 + checked((int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(at)));
                break;
            default:
                throw new FormatException($"the golden frames use no 0x{code:x2}");
        }
        return new MessagePackScalar(b[start..at]);
    }

    private static MessagePackArray ParseArray(byte[] b, ref int at, int count)
    {
        var array = new MessagePackArray();
        for (var i = 0; i < count; i++)
        {
            array.Items.Add(Parse(b, ref at));
        }
        return array;
    }

    private static MessagePackMap ParseMap(byte[] b, ref int at, int count)
    {
        var map = new MessagePackMap();
        for (var i = 0; i < count; i++)
        {
            var key = Parse(b, ref at);
            map.Pairs.Add((key, Parse(b, ref at)));
        }
        return map;
    }
}

/// <summary>A value that is not a container, as its bytes (or any bytes at all: a fuzzed one need not be one value).</summary>
public sealed class MessagePackScalar(byte[] bytes) : MessagePackNode
{
    public byte[] Bytes { get; } = bytes;

    public bool IsInt => Bytes[0] is <= 0x7f or >= 0xe0 or (>= 0xcc and <= 0xd3);

    public bool IsStr => Bytes[0] is (>= 0xa0 and <= 0xbf) or 0xd9 or 0xda or 0xdb;

    public override void WriteTo(List<byte> output) => output.AddRange(Bytes);
}

public sealed class MessagePackArray : MessagePackNode
{
    public List<MessagePackNode> Items { get; } = [];

    public override void WriteTo(List<byte> output)
    {
        Pack.ArrayHeader(output, Items.Count);
        foreach (var item in Items)
        {
            item.WriteTo(output);
        }
    }
}

public sealed class MessagePackMap : MessagePackNode
{
    public List<(MessagePackNode Key, MessagePackNode Value)> Pairs { get; } = [];

    public override void WriteTo(List<byte> output)
    {
        Pack.MapHeader(output, Pairs.Count);
        foreach (var (key, value) in Pairs)
        {
            key.WriteTo(output);
            value.WriteTo(output);
        }
    }
}

/// <summary>MessagePack spellings, written by hand (spec: github.com/msgpack/msgpack/blob/master/spec.md).</summary>
public static class Pack
{
    public static void ArrayHeader(List<byte> o, long count)
    {
        if (count < 16)
        {
            o.Add((byte)(0x90 | count));
        }
        else if (count <= ushort.MaxValue)
        {
            o.Add(0xdc);
            U16(o, (ushort)count);
        }
        else
        {
            o.Add(0xdd);
            U32(o, (uint)count);
        }
    }

    public static void MapHeader(List<byte> o, long count)
    {
        if (count < 16)
        {
            o.Add((byte)(0x80 | count));
        }
        else if (count <= ushort.MaxValue)
        {
            o.Add(0xde);
            U16(o, (ushort)count);
        }
        else
        {
            o.Add(0xdf);
            U32(o, (uint)count);
        }
    }

    public static byte[] Number(long n)
    {
        var o = new List<byte>();
        switch (n)
        {
            case >= 0 and < 128:
                o.Add((byte)n);
                break;
            case < 0 and >= -32:
                o.Add((byte)(sbyte)n);
                break;
            case >= sbyte.MinValue and <= sbyte.MaxValue:
                o.Add(0xd0);
                o.Add((byte)(sbyte)n);
                break;
            case >= short.MinValue and <= short.MaxValue:
                o.Add(0xd1);
                U16(o, (ushort)(short)n);
                break;
            case >= int.MinValue and <= int.MaxValue:
                o.Add(0xd2);
                U32(o, (uint)(int)n);
                break;
            default:
                o.Add(0xd3);
                U64(o, (ulong)n);
                break;
        }
        return [.. o];
    }

    public static byte[] NumberAsUInt64(ulong n)
    {
        var o = new List<byte> { 0xcf };
        U64(o, n);
        return [.. o];
    }

    public static byte[] Float64Form(double d)
    {
        var o = new List<byte> { 0xcb };
        U64(o, (ulong)BitConverter.DoubleToInt64Bits(d));
        return [.. o];
    }

    public static byte[] Float32Form(float f)
    {
        var o = new List<byte> { 0xca };
        U32(o, (uint)BitConverter.SingleToInt32Bits(f));
        return [.. o];
    }

    public static byte[] Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));

    /// <summary>A str holding <paramref name="bytes"/>, UTF-8 or not.</summary>
    public static byte[] StrBytes(byte[] bytes)
    {
        var o = new List<byte>();
        if (bytes.Length < 32)
        {
            o.Add((byte)(0xa0 | bytes.Length));
        }
        else if (bytes.Length < 256)
        {
            o.Add(0xd9);
            o.Add((byte)bytes.Length);
        }
        else
        {
            o.Add(0xda);
            U16(o, (ushort)bytes.Length);
        }
        o.AddRange(bytes);
        return [.. o];
    }

    public static byte[] Bin(byte[] bytes)
    {
        var o = new List<byte> { 0xc4, (byte)bytes.Length };
        o.AddRange(bytes);
        return [.. o];
    }

    /// <summary>A header with its 32-bit length: <paramref name="code"/> 0xdd array, 0xdf map, 0xdb str, 0xc6 bin, 0xc9 ext.</summary>
    public static byte[] Header32(byte code, uint length)
    {
        var o = new List<byte> { code };
        U32(o, length);
        if (code == 0xc9)
        {
            o.Add(1); // the ext type
        }
        return [.. o];
    }

    /// <summary>A header with its 16-bit length: 0xdc array, 0xde map, 0xda str, 0xc5 bin, 0xc8 ext.</summary>
    public static byte[] Header16(byte code, ushort length)
    {
        var o = new List<byte> { code };
        U16(o, length);
        if (code == 0xc8)
        {
            o.Add(1);
        }
        return [.. o];
    }

    private static void U16(List<byte> o, ushort n)
    {
        o.Add((byte)(n >> 8));
        o.Add((byte)n);
    }

    private static void U32(List<byte> o, uint n)
    {
        U16(o, (ushort)(n >> 16));
        U16(o, (ushort)n);
    }

    private static void U64(List<byte> o, ulong n)
    {
        U32(o, (uint)(n >> 32));
        U32(o, (uint)n);
    }
}
