using System.Globalization;
using System.Text;

namespace Lockstep.Fuzz;

/// <summary>What a fuzzed frame is, so a report can say which kinds misbehaved.</summary>
public enum FuzzKind
{
    Valid,
    Mutated,
    Truncated,
    WrongTypes,
    DeepNesting,
    HugeNumbers,
    InvalidUtf8,
    UnknownType,
    Oversized,
    Garbage,
    LoneSurrogate,
    HugeIn,
    Binary,
}

/// <summary>One frame to send: its bytes, whether it goes as a binary message, and its kind.</summary>
public sealed record FuzzFrame(byte[] Bytes, bool IsBinary, FuzzKind Kind)
{
    public override string ToString()
    {
        var text = Encoding.UTF8.GetString(Bytes, 0, Math.Min(Bytes.Length, 160));
        return $"{Kind} ({Bytes.Length} bytes{(IsBinary ? ", binary" : "")}): {text}";
    }
}

/// <summary>
/// Deterministic hostile frames for the sync protocol (docs/protocol.md): valid requests, the same
/// requests mutated byte by byte or cut short, fields of the wrong type, deep nesting, huge numbers,
/// invalid UTF-8, lone surrogate escapes in any string, <c>$in</c> filters of 5,000 to 140,000 items,
/// unknown types, frames over the size limit, random bytes, binary messages. The same seed gives the
/// same frames.
/// </summary>
public sealed class FrameFuzzer
{
    private static readonly string[] Types = ["hello", "sub", "unsub", "mut", "call", "ping", "chg", "ack", "welcome", "", "HELLO", "sub\u0000"];
    private static readonly string[] Ops = ["put", "patch", "inc", "delete", "merge", "drop", ""];
    private readonly Random _random;
    private readonly int _maxFrameBytes;
    private long _next;

    public FrameFuzzer(int seed, int maxFrameBytes = 1 << 20)
    {
        _random = new Random(seed);
        _maxFrameBytes = maxFrameBytes;
    }

    /// <summary>A valid request of some kind, as JSON text.</summary>
    public string ValidRequest()
    {
        var id = ++_next;
        var c = "fz" + _random.Next(3);
        var doc = "d" + _random.Next(20);
        return _random.Next(6) switch
        {
            0 => $$$"""{"t":"ping","id":{{{id}}}}""",
            // Subscriptions go to collections no fuzzed write touches, so every request gets exactly one reply.
            1 => $$$$"""{"t":"sub","id":{{{{id}}}},"sub":"s{{{{_random.Next(5)}}}}","collection":"fzs{{{{_random.Next(3)}}}}","filter":{"n":{"$gte":{{{{_random.Next(10)}}}}}}}""",
            2 => $$$"""{"t":"unsub","id":{{{id}}},"sub":"s{{{_random.Next(5)}}}"}""",
            3 => $$$"""{"t":"mut","id":{{{id}}},"mid":{{{id}}},"ops":[{"op":"patch","collection":"{{{c}}}","id":"{{{doc}}}","set":{"n":{{{_random.Next(100)}}},"a.b":"x"}},{"op":"inc","collection":"{{{c}}}","id":"{{{doc}}}","path":"k","by":1}]}""",
            4 => $$$$"""{"t":"mut","id":{{{{id}}}},"ops":[{"op":"put","collection":"{{{{c}}}}","id":"{{{{doc}}}}","doc":{"n":{{{{_random.Next(100)}}}},"tags":["a","b"],"o":{"p":null}}}]}""",
            _ => $$$"""{"t":"call","id":{{{id}}},"name":"nope","args":{"x":1}}""",
        };
    }

    public FuzzFrame Next()
    {
        var kind = (FuzzKind)_random.Next(Enum.GetValues<FuzzKind>().Length);
        return kind switch
        {
            FuzzKind.Valid => Text(ValidRequest(), kind),
            FuzzKind.Mutated => new FuzzFrame(Mutate(Encoding.UTF8.GetBytes(ValidRequest())), false, kind),
            FuzzKind.Truncated => Truncate(),
            FuzzKind.WrongTypes => Text(WrongTypes(), kind),
            FuzzKind.DeepNesting => Text(Deep(), kind),
            FuzzKind.HugeNumbers => Text(Huge(), kind),
            FuzzKind.InvalidUtf8 => new FuzzFrame(InvalidUtf8(), false, kind),
            FuzzKind.UnknownType => Text($$$"""{"t":"{{{Types[_random.Next(Types.Length)]}}}","id":{{{++_next}}},"x":{{{_random.Next()}}}}""", kind),
            FuzzKind.Oversized => new FuzzFrame(Oversized(), false, kind),
            FuzzKind.Garbage => new FuzzFrame(RandomBytes(_random.Next(0, 200)), false, kind),
            FuzzKind.LoneSurrogate => Text(LoneSurrogate(ValidRequest()), kind),
            FuzzKind.HugeIn => Text(HugeIn(), kind),
            _ => new FuzzFrame(RandomBytes(_random.Next(1, 64)), true, kind),
        };
    }

    private static FuzzFrame Text(string json, FuzzKind kind) => new(Encoding.UTF8.GetBytes(json), false, kind);

    private byte[] Mutate(byte[] bytes)
    {
        var flips = _random.Next(1, 4);
        for (var i = 0; i < flips && bytes.Length > 0; i++)
        {
            var at = _random.Next(bytes.Length);
            bytes[at] = _random.Next(3) switch
            {
                0 => (byte)_random.Next(32, 127),
                1 => (byte)"{}[]\":,0\\-.e"[_random.Next(12)],
                _ => (byte)(bytes[at] ^ (1 << _random.Next(8))),
            };
        }
        return bytes;
    }

    private FuzzFrame Truncate()
    {
        var bytes = Encoding.UTF8.GetBytes(ValidRequest());
        return new FuzzFrame(bytes[..Math.Max(0, _random.Next(bytes.Length))], false, FuzzKind.Truncated);
    }

    private string WrongTypes()
    {
        string[] values = ["null", "true", "1.5", "-1", "\"x\"", "[]", "{}", "[1,[2]]", "1e3", "\"\"", "0"];
        string V() => values[_random.Next(values.Length)];
        return _random.Next(6) switch
        {
            0 => $$$"""{"t":{{{V()}}},"id":{{{V()}}}}""",
            1 => $$$"""{"t":"sub","id":{{{++_next}}},"sub":{{{V()}}},"collection":{{{V()}}},"filter":{{{V()}}}}""",
            2 => $$$"""{"t":"mut","id":{{{++_next}}},"mid":{{{V()}}},"ops":{{{V()}}}}""",
            3 => $$$"""{"t":"mut","id":{{{++_next}}},"ops":[{"op":"{{{Ops[_random.Next(Ops.Length)]}}}","collection":{{{V()}}},"id":{{{V()}}},"set":{{{V()}}},"unset":{{{V()}}},"path":{{{V()}}},"by":{{{V()}}},"doc":{{{V()}}},"ifVersion":{{{V()}}}}]}""",
            4 => $$$"""{"t":"hello","id":{{{++_next}}},"clientId":{{{V()}}},"cursor":{{{V()}}},"subs":{{{V()}}},"protocol":{{{V()}}}}""",
            _ => $$$"""{"t":"call","id":{{{++_next}}},"name":{{{V()}}},"args":{{{V()}}},"mid":{{{V()}}}}""",
        };
    }

    private string Deep()
    {
        var depth = _random.Next(2) == 0 ? _random.Next(30, 80) : _random.Next(1_000, 20_000);
        var open = _random.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        var nested = string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
        return $$$"""{"t":"mut","id":{{{++_next}}},"ops":[{"op":"put","collection":"fz0","id":"deep","doc":{"x":{{{nested}}}}}]}""";
    }

    private string Huge()
    {
        string[] numbers = ["1e400", "-1e400", "123456789012345678901234567890", "9223372036854775808", "-9223372036854775809", "0.0000000000000000000000000001", "1E+308", "4.9e-324", "79228162514264337593543950336"];
        var n = numbers[_random.Next(numbers.Length)];
        return _random.Next(4) switch
        {
            0 => $$$"""{"t":"ping","id":{{{n}}}}""",
            1 => $$$"""{"t":"mut","id":{{{++_next}}},"mid":{{{n}}},"ops":[{"op":"inc","collection":"fz0","id":"d1","path":"k","by":{{{n}}}}]}""",
            2 => $$$"""{"t":"mut","id":{{{++_next}}},"ops":[{"op":"patch","collection":"fz0","id":"d1","set":{"k":{{{n}}}},"ifVersion":{{{n}}}}]}""",
            _ => $$$"""{"t":"hello","id":{{{++_next}}},"cursor":{{{n}}}}""",
        };
    }

    private static readonly string[] Surrogates = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d", "\\ude00\\ud83d", "\\uD800x"];

    /// <summary>The request with a lone surrogate escape put into one of its strings: a field name or a value, any of them.</summary>
    public string LoneSurrogate(string json)
    {
        // The valid requests have no escapes, so every other quote opens a string.
        var opening = new List<int>();
        for (int i = 0, quotes = 0; i < json.Length; i++)
        {
            if (json[i] == '"' && quotes++ % 2 == 0)
            {
                opening.Add(i);
            }
        }
        var at = opening[_random.Next(opening.Count)] + 1;
        return json.Insert(at, Surrogates[_random.Next(Surrogates.Length)]);
    }

    /// <summary>A subscription whose filter's <c>$in</c> holds 5,000 to 140,000 items (as many as fit the frame limit).</summary>
    public string HugeIn()
    {
        var items = Math.Min(_random.Next(5_000, 140_001), (_maxFrameBytes - 256) / 2);
        var list = new StringBuilder(items * 2);
        for (var i = 0; i < items; i++)
        {
            list.Append(i == 0 ? "" : ",").Append((char)('0' + _random.Next(10)));
        }
        return $$$$"""{"t":"sub","id":{{{{++_next}}}},"sub":"s{{{{_random.Next(5)}}}}","collection":"fzs{{{{_random.Next(3)}}}}","filter":{"n":{"$in":[{{{{list}}}}]}}}""";
    }

    private byte[] InvalidUtf8()
    {
        var bytes = Encoding.UTF8.GetBytes(ValidRequest()).ToList();
        byte[][] bad = [[0xC3], [0xFF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82]];
        bytes.InsertRange(_random.Next(bytes.Count + 1), bad[_random.Next(bad.Length)]);
        return [.. bytes];
    }

    private byte[] Oversized()
    {
        var size = _maxFrameBytes + 1 + _random.Next(1024);
        var prefix = Encoding.UTF8.GetBytes("{\"t\":\"mut\",\"id\":" + (++_next).ToString(CultureInfo.InvariantCulture) + ",\"ops\":[{\"op\":\"put\",\"collection\":\"fz0\",\"id\":\"big\",\"doc\":{\"x\":\"");
        var bytes = new byte[size];
        prefix.CopyTo(bytes, 0);
        bytes.AsSpan(prefix.Length).Fill((byte)'x');
        return bytes;
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        _random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A hello that opens a session (most fuzzed frames should reach the session's main handler).</summary>
    public string Hello() => string.Create(CultureInfo.InvariantCulture, $$$"""{"t":"hello","id":0,"clientId":"fuzz-{{{_random.Next(1_000_000)}}}"}""");
}
