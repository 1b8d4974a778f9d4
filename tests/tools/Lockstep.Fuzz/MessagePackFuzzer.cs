namespace Lockstep.Fuzz;

/// <summary>What a fuzzed MessagePack frame is, so a report can say which kinds misbehaved.</summary>
public enum MessagePackFuzzKind
{
    Valid,
    Flipped,
    Truncated,
    Inserted,
    HugeLength,
    DeepNesting,
    ContainerSwapped,
    WrongType,
    WideInteger,
    NonFinite,
    BinOrExt,
    InvalidUtf8,
    DuplicateKeys,
    NonStrKey,
    Trailing,
    Empty,
    UnknownType,
    Garbage,

    /// <summary>Values past the frame's layout (readers ignore them), of any kind: deep, huge, bin, NaN.</summary>
    Appended,

    /// <summary>A frame over the server's size limit (made by the socket driver, not by <see cref="MessagePackFuzzer.Next"/>).</summary>
    Oversized,
}

/// <summary>One fuzzed binary frame: its bytes and its kind.</summary>
public sealed record MessagePackFuzzFrame(byte[] Bytes, MessagePackFuzzKind Kind)
{
    public string Hex => Convert.ToHexStringLower(Bytes);

    public override string ToString() =>
        $"{Kind} ({Bytes.Length} bytes): {(Bytes.Length <= 400 ? Hex : Convert.ToHexStringLower(Bytes.AsSpan(0, 400)) + "…")}";
}

/// <summary>
/// Deterministic hostile MessagePack frames (docs/protocol.md §11), made from valid ones: the same frames with
/// bytes flipped, inserted or cut off; a value anywhere in the tree (the type number, a positional field, a map
/// key, an op's element) replaced by one of the wrong type, a wider or too wide int, NaN or infinity, bin, ext or a
/// timestamp, a str that is not UTF-8, a header claiming up to 2³²−1 items or bytes, nesting up to 100,000 deep;
/// arrays and maps swapped, duplicate and non-str keys, trailing bytes, empty and random messages, unknown type
/// numbers. The same seed and the same valid frames give the same frames.
/// </summary>
public sealed class MessagePackFuzzer
{
    private static readonly int[] Depths = [63, 64, 65, 66, 100, 1_000, 10_000, 100_000];
    private static readonly byte[][] InvalidUtf8Runs = [[0xc3], [0xff], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0x80]];
    private readonly Random _random;
    private readonly Func<Random, byte[]> _valid;

    /// <param name="seed">The seed: the same seed gives the same frames.</param>
    /// <param name="valid">Makes a valid frame to start from (a golden frame, a request for the server).</param>
    public MessagePackFuzzer(int seed, Func<Random, byte[]> valid)
    {
        _random = new Random(seed);
        _valid = valid;
    }

    /// <summary>A fuzzer over a fixed list of valid frames.</summary>
    public MessagePackFuzzer(int seed, IReadOnlyList<byte[]> valid) : this(seed, r => valid[r.Next(valid.Count)])
    {
    }

    public MessagePackFuzzFrame Next()
    {
        var kind = (MessagePackFuzzKind)_random.Next((int)MessagePackFuzzKind.Oversized);
        return new MessagePackFuzzFrame(Make(kind), kind);
    }

    private byte[] Make(MessagePackFuzzKind kind)
    {
        var bytes = (byte[])_valid(_random).Clone();
        switch (kind)
        {
            case MessagePackFuzzKind.Valid:
                return bytes;
            case MessagePackFuzzKind.Flipped:
                for (var i = _random.Next(1, 4); i > 0; i--)
                {
                    var at = _random.Next(bytes.Length);
                    bytes[at] = _random.Next(3) switch
                    {
                        0 => (byte)(bytes[at] ^ (1 << _random.Next(8))),
                        1 => SignificantByte(),
                        _ => (byte)_random.Next(256),
                    };
                }
                return bytes;
            case MessagePackFuzzKind.Truncated:
                return bytes[.._random.Next(bytes.Length)];
            case MessagePackFuzzKind.Inserted:
                var list = bytes.ToList();
                for (var i = _random.Next(1, 5); i > 0; i--)
                {
                    list.Insert(_random.Next(list.Count + 1), _random.Next(2) == 0 ? SignificantByte() : (byte)_random.Next(256));
                }
                return [.. list];
            case MessagePackFuzzKind.Trailing:
                return [.. bytes, .. _random.Next(3) == 0 ? _valid(_random) : RandomBytes(_random.Next(1, 9))];
            case MessagePackFuzzKind.Empty:
                return RandomBytes(_random.Next(3));
            case MessagePackFuzzKind.Garbage:
                var garbage = RandomBytes(_random.Next(1, 200));
                if (_random.Next(2) == 0)
                {
                    garbage[0] = (byte)(0x90 | _random.Next(16)); // an array, so it gets past the first check
                }
                return garbage;
            default:
                var tree = MessagePackNode.Parse(bytes);
                return Structural(tree, kind).ToBytes();
        }
    }

    private MessagePackNode Structural(MessagePackNode tree, MessagePackFuzzKind kind)
    {
        var nodes = tree.Walk().ToList();
        switch (kind)
        {
            case MessagePackFuzzKind.UnknownType when tree is MessagePackArray { Items.Count: > 0 } frame:
                long[] numbers = [0, 17, 18, 100, 127, 128, 255, 65_536, -1, -32, -33, long.MaxValue, long.MinValue];
                frame.Items[0] = _random.Next(5) == 0
                    ? new MessagePackScalar(Pack.NumberAsUInt64(ulong.MaxValue - (ulong)_random.Next(2)))
                    : new MessagePackScalar(Pack.Number(numbers[_random.Next(numbers.Length)]));
                return tree;
            case MessagePackFuzzKind.Appended when tree is MessagePackArray frame:
                for (var n = _random.Next(1, 4); n > 0; n--)
                {
                    // Past a positional layout (11 elements covers the longest, chg), or after a map-form frame's map.
                    while (frame.Items.Count < (_random.Next(2) == 0 ? 2 : 9))
                    {
                        frame.Items.Add(new MessagePackScalar([0xc0]));
                    }
                    frame.Items.Add(ValueOf((MessagePackFuzzKind)_random.Next((int)MessagePackFuzzKind.HugeLength, (int)MessagePackFuzzKind.InvalidUtf8 + 1)));
                }
                return tree;
            case MessagePackFuzzKind.ContainerSwapped:
                var containers = nodes.Where(n => n is MessagePackArray or MessagePackMap).ToList();
                return Swap(tree, containers[_random.Next(containers.Count)]);
            case MessagePackFuzzKind.DuplicateKeys:
                var maps = nodes.OfType<MessagePackMap>().Where(m => m.Pairs.Count > 0).ToList();
                if (maps.Count == 0)
                {
                    return tree;
                }
                var map = maps[_random.Next(maps.Count)];
                var pair = map.Pairs[_random.Next(map.Pairs.Count)];
                map.Pairs.Insert(_random.Next(map.Pairs.Count + 1), (pair.Key, _random.Next(2) == 0 ? pair.Value : Hostile()));
                return tree;
            case MessagePackFuzzKind.NonStrKey:
                var keyed = nodes.OfType<MessagePackMap>().Where(m => m.Pairs.Count > 0).ToList();
                if (keyed.Count == 0)
                {
                    return tree;
                }
                var target = keyed[_random.Next(keyed.Count)];
                var i = _random.Next(target.Pairs.Count);
                target.Pairs[i] = (Hostile(), target.Pairs[i].Value);
                return tree;
            case MessagePackFuzzKind.InvalidUtf8:
                var strings = nodes.OfType<MessagePackScalar>().Where(s => s.IsStr).ToList();
                if (strings.Count == 0)
                {
                    return tree;
                }
                var str = strings[_random.Next(strings.Count)];
                var text = StrContent(str.Bytes).ToList();
                text.InsertRange(_random.Next(text.Count + 1), InvalidUtf8Runs[_random.Next(InvalidUtf8Runs.Length)]);
                return ReplaceNode(tree, str, new MessagePackScalar(Pack.StrBytes([.. text])));
            case MessagePackFuzzKind.WideInteger:
                var ints = nodes.OfType<MessagePackScalar>().Where(s => s.IsInt).ToList();
                if (ints.Count == 0)
                {
                    return tree;
                }
                var old = ints[_random.Next(ints.Count)];
                return ReplaceNode(tree, old, new MessagePackScalar(Wide(old)));
            case MessagePackFuzzKind.HugeLength when _random.Next(2) == 0:
                // A container's own header claims more than follows.
                var claimed = nodes.Where(n => n is MessagePackArray or MessagePackMap).ToList();
                var c = claimed[_random.Next(claimed.Count)];
                uint[] lengths = [(uint)Count(c) + 1, (uint)Count(c) + 2, ushort.MaxValue, 0x7fff_ffff, 0x8000_0000, uint.MaxValue];
                var length = lengths[_random.Next(lengths.Length)];
                var header = new List<byte>();
                if (length <= ushort.MaxValue && _random.Next(2) == 0)
                {
                    header.AddRange(Pack.Header16(c is MessagePackArray ? (byte)0xdc : (byte)0xde, (ushort)length));
                }
                else
                {
                    header.AddRange(Pack.Header32(c is MessagePackArray ? (byte)0xdd : (byte)0xdf, length));
                }
                var body = c.ToBytes();
                var skip = body[0] is >= 0x80 and <= 0x9f ? 1 : body[0] is 0xdc or 0xde ? 3 : 5;
                return ReplaceNode(tree, c, new MessagePackScalar([.. header, .. body.AsSpan(skip)]));
            default:
                // Any node but the frame itself gets a hostile value of the kind.
                var at = nodes.Count > 1 ? nodes[_random.Next(1, nodes.Count)] : nodes[0];
                return ReplaceNode(tree, at, ValueOf(kind));
        }
    }

    private static int Count(MessagePackNode container) => container switch
    {
        MessagePackArray a => a.Items.Count,
        MessagePackMap m => m.Pairs.Count,
        _ => 0,
    };

    private static MessagePackNode ReplaceNode(MessagePackNode tree, MessagePackNode old, MessagePackNode replacement) =>
        ReferenceEquals(tree, old) ? replacement : tree.Replace(old, replacement) ? tree : throw new InvalidOperationException("node not in tree");

    /// <summary>A map where an array was (its items as pairs of keys and values, or indexes as keys) and the reverse.</summary>
    private MessagePackNode Swap(MessagePackNode tree, MessagePackNode container)
    {
        MessagePackNode swapped;
        if (container is MessagePackArray array)
        {
            var map = new MessagePackMap();
            var byIndex = _random.Next(2) == 0;
            for (var i = 0; i < array.Items.Count; i++)
            {
                map.Pairs.Add(byIndex ? (new MessagePackScalar(Pack.Str(i.ToString(System.Globalization.CultureInfo.InvariantCulture))), array.Items[i]) : (array.Items[i], i + 1 < array.Items.Count ? array.Items[++i] : new MessagePackScalar([0xc0])));
            }
            swapped = map;
        }
        else
        {
            var list = new MessagePackArray();
            var valuesOnly = _random.Next(2) == 0;
            foreach (var (key, value) in ((MessagePackMap)container).Pairs)
            {
                if (!valuesOnly)
                {
                    list.Items.Add(key);
                }
                list.Items.Add(value);
            }
            swapped = list;
        }
        return ReplaceNode(tree, container, swapped);
    }

    private MessagePackScalar ValueOf(MessagePackFuzzKind kind) => kind switch
    {
        MessagePackFuzzKind.HugeLength => new MessagePackScalar(HugeHeader()),
        MessagePackFuzzKind.DeepNesting => new MessagePackScalar(Deep(Depths[_random.Next(Depths.Length)])),
        MessagePackFuzzKind.NonFinite => new MessagePackScalar(NonFinite()),
        MessagePackFuzzKind.BinOrExt => new MessagePackScalar(BinOrExt()),
        MessagePackFuzzKind.InvalidUtf8 => new MessagePackScalar(Pack.StrBytes([0x61, .. InvalidUtf8Runs[_random.Next(InvalidUtf8Runs.Length)]])),
        _ => Hostile(),
    };

    /// <summary>A value of any type: the wrong one for most places.</summary>
    private MessagePackScalar Hostile()
    {
        byte[][] simple =
        [
            [0xc0], [0xc2], [0xc3], [0x00], [0xff], [0x7f], [0xcc, 0x80], [0xe0], [0xd0, 0xdf],
            Pack.Number(long.MinValue), Pack.Number(long.MaxValue), Pack.NumberAsUInt64(ulong.MaxValue), Pack.NumberAsUInt64(1UL << 63),
            Pack.Float32Form(1.5f), Pack.Float64Form(0.5), Pack.Float64Form(-0.0), Pack.Float64Form(double.Epsilon), Pack.Float64Form(double.MaxValue),
            Pack.Str(""), Pack.Str("x"), Pack.Str("put"), Pack.Str(new string('y', 300)), Pack.Str("é😀"),
            [0x90], [0x80], [0x92, 0x01, 0x91, 0x02], [0x81, 0xa1, 0x61, 0x01], [0x91, 0xc0], [0x94, 0x00, 0xa1, 0x63, 0xa1, 0x64, 0xc0],
            [0xc1], // never used
        ];
        return _random.Next(6) switch
        {
            0 => new MessagePackScalar(NonFinite()),
            1 => new MessagePackScalar(BinOrExt()),
            _ => new MessagePackScalar(simple[_random.Next(simple.Length)]),
        };
    }

    private byte[] HugeHeader()
    {
        byte[] codes32 = [0xdd, 0xdf, 0xdb, 0xc6, 0xc9];
        byte[] codes16 = [0xdc, 0xde, 0xda, 0xc5, 0xc8];
        uint[] lengths = [uint.MaxValue, 0x8000_0000, 0x7fff_ffff, 0x0100_0000, 70_000];
        byte[] header = _random.Next(3) == 0
            ? Pack.Header16(codes16[_random.Next(codes16.Length)], ushort.MaxValue)
            : Pack.Header32(codes32[_random.Next(codes32.Length)], lengths[_random.Next(lengths.Length)]);
        // Sometimes a few items follow, so a reader that trusts the length gets a little further.
        return [.. header, .. Enumerable.Repeat((byte)0x01, _random.Next(4) == 0 ? _random.Next(1, 64) : 0)];
    }

    private byte[] Deep(int depth)
    {
        var output = new List<byte>(depth * 3 + 1);
        var mixed = _random.Next(3);
        for (var i = 0; i < depth; i++)
        {
            if (mixed == 0 || (mixed == 2 && i % 2 == 0))
            {
                output.Add(0x91);
            }
            else
            {
                output.AddRange([0x81, 0xa1, 0x61]); // {"a": …
            }
        }
        output.Add(0x01);
        return [.. output];
    }

    private byte[] NonFinite() => _random.Next(6) switch
    {
        0 => Pack.Float64Form(double.NaN),
        1 => Pack.Float64Form(double.PositiveInfinity),
        2 => Pack.Float64Form(double.NegativeInfinity),
        3 => Pack.Float32Form(float.NaN),
        4 => Pack.Float32Form(float.PositiveInfinity),
        _ => Pack.Float32Form(float.NegativeInfinity),
    };

    private byte[] BinOrExt() => _random.Next(9) switch
    {
        0 => Pack.Bin([]),
        1 => Pack.Bin([1, 2, 3]),
        2 => [0xd4, 0x01, 0x00], // fixext 1
        3 => [0xd8, 0x05, .. new byte[16]], // fixext 16
        4 => [0xc7, 0x02, 0x07, 0xaa, 0xbb], // ext 8
        5 => [0xd6, 0xff, 0x5f, 0x5e, 0x10, 0x00], // timestamp 32
        6 => [0xd7, 0xff, .. new byte[8]], // timestamp 64
        7 => [0xc7, 0x0c, 0xff, .. new byte[12]], // timestamp 96
        _ => [0xc5, 0x00, 0x03, 0x61, 0x62, 0x63], // bin 16
    };

    /// <summary>An int in a wider form than it needs (allowed), or one wider than any int field takes.</summary>
    private byte[] Wide(MessagePackScalar old)
    {
        var n = ValueOfInt(old.Bytes);
        return _random.Next(6) switch
        {
            0 => [0xcf, .. BigEndian((ulong)n)],
            1 => [0xd3, .. BigEndian((ulong)n)],
            2 => [0xce, .. BigEndian((ulong)n).AsSpan(4)],
            3 => Pack.NumberAsUInt64(ulong.MaxValue - (ulong)_random.Next(3)),
            4 => Pack.NumberAsUInt64((1UL << 63) + (ulong)_random.Next(3)),
            _ => Pack.Number(_random.Next(2) == 0 ? long.MinValue : long.MaxValue),
        };
    }

    private static long ValueOfInt(byte[] b) => b[0] switch
    {
        <= 0x7f => b[0],
        >= 0xe0 => (sbyte)b[0],
        0xcc => b[1],
        0xcd => (b[1] << 8) | b[2],
        0xd0 => (sbyte)b[1],
        _ => 1,
    };

    private static byte[] BigEndian(ulong n)
    {
        var bytes = BitConverter.GetBytes(n);
        if (BitConverter.IsLittleEndian)
        {
            Array.Reverse(bytes);
        }
        return bytes;
    }

    private static byte[] StrContent(byte[] str) => str[0] switch
    {
        >= 0xa0 and <= 0xbf => str[1..],
        0xd9 => str[2..],
        0xda => str[3..],
        _ => str[5..],
    };

    /// <summary>A byte that means something to a MessagePack reader: a header, a length code, the never-used 0xc1.</summary>
    private byte SignificantByte()
    {
        byte[] significant = [0xc0, 0xc1, 0xc4, 0xc6, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x9f, 0x8f, 0xbf, 0x90, 0x80, 0xa0, 0xff];
        return significant[_random.Next(significant.Length)];
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        _random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>The golden frames' MessagePack bytes, from tests/fixtures/frames.json (copied next to the binary).</summary>
    public static IReadOnlyList<byte[]> GoldenFrames(string? path = null)
    {
        path ??= Path.Combine(AppContext.BaseDirectory, "fixtures", "frames.json");
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path));
        return [.. document.RootElement.EnumerateArray().Select(e => Convert.FromHexString(e.GetProperty("msgpack").GetString()!))];
    }
}
