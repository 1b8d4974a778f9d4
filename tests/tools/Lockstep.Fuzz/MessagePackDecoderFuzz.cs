using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lockstep.Protocol;

namespace Lockstep.Fuzz;

/// <summary>A decoder failure that is not a <see cref="FrameFormatException"/>: what threw, how often, and the first frame that did it.</summary>
public sealed class DecoderBug(string signature, MessagePackFuzzFrame frame, string detail)
{
    public string Signature { get; } = signature;

    public MessagePackFuzzFrame Frame { get; } = frame;

    /// <summary>The exception with its stack trace, or what was wrong with the result.</summary>
    public string Detail { get; } = detail;

    public long Count { get; set; } = 1;

    public override string ToString() => $"{Signature} ×{Count}, first on {Frame}\n{Detail}";
}

/// <summary>What an in-process run of the MessagePack decoder saw.</summary>
public sealed class DecoderFuzzReport
{
    public long Frames { get; set; }

    /// <summary><see cref="MessagePackFrameCodec.ToJson"/>'s outcomes: <c>json</c>, a <see cref="FrameFormatException"/>'s code, or <c>BUG …</c>.</summary>
    public Dictionary<string, long> ToJson { get; } = new(StringComparer.Ordinal);

    /// <summary><see cref="MessagePackFrameCodec.Read"/>'s outcomes: <c>frame</c>, a code, or <c>BUG …</c>.</summary>
    public Dictionary<string, long> Read { get; } = new(StringComparer.Ordinal);

    /// <summary>Frames by kind, and how many of each <see cref="MessagePackFrameCodec.ToJson"/> refused.</summary>
    public Dictionary<MessagePackFuzzKind, (long Frames, long Refused)> Kinds { get; } = [];

    public Dictionary<string, DecoderBug> Bugs { get; } = new(StringComparer.Ordinal);

    public TimeSpan Elapsed { get; set; }

    public TimeSpan Slowest { get; set; }

    public MessagePackFuzzFrame? SlowestFrame { get; set; }

    /// <summary>Frames whose decoding (ToJson and Read together) took over 10 ms.</summary>
    public long Over10Ms { get; set; }

    /// <summary>Managed heap after a full collection: before the run, after the warm-up, after the run.</summary>
    public long HeapAtStart { get; set; }

    public long HeapAfterWarmUp { get; set; }

    public long HeapAtEnd { get; set; }

    public long Bytes { get; set; }

    public IEnumerable<DecoderBug> ToJsonBugs => Bugs.Values.Where(b => b.Signature.StartsWith("ToJson", StringComparison.Ordinal));

    public IEnumerable<DecoderBug> ReadBugs => Bugs.Values.Where(b => b.Signature.StartsWith("Read", StringComparison.Ordinal));

    public override string ToString()
    {
        static string Counts(Dictionary<string, long> d) => string.Join(", ", d.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}"));
        var kinds = string.Join(", ", Kinds.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value.Frames:N0} ({p.Value.Refused:N0} refused)"));
        var perFrame = Frames == 0 ? 0 : Elapsed.TotalMilliseconds * 1000 / Frames;
        return string.Create(CultureInfo.InvariantCulture,
            $"""
            {Frames:N0} frames ({Bytes / (1 << 20):N0} MiB) in {Elapsed.TotalSeconds:F1} s ({perFrame:F1} µs a frame; slowest {Slowest.TotalMilliseconds:F1} ms, {SlowestFrame?.Kind}, {SlowestFrame?.Bytes.Length} bytes; {Over10Ms} over 10 ms)
            ToJson: {Counts(ToJson)}
            Read: {Counts(Read)}
            kinds: {kinds}
            managed heap after a full GC: {HeapAtStart / 1024:N0} KiB at start, {HeapAfterWarmUp / 1024:N0} KiB after the warm-up, {HeapAtEnd / 1024:N0} KiB at the end
            bugs: {Bugs.Count} kinds, {Bugs.Values.Sum(b => b.Count):N0} frames
            """);
    }
}

/// <summary>
/// Feeds fuzzed frames to <see cref="MessagePackFrameCodec.ToJson"/> (what the server does with every inbound
/// binary frame) and <see cref="MessagePackFrameCodec.Read"/> (what a client does), in process. The only allowed
/// outcomes are a result or a <see cref="FrameFormatException"/>; anything else is a bug, kept with its bytes.
/// A result of ToJson must be one well-formed JSON object, and a frame ToJson refuses Read must refuse with the same code.
/// </summary>
public sealed class MessagePackDecoderFuzz(MessagePackFuzzer fuzzer)
{
    private static readonly MessagePackFrameCodec Codec = new();
    private readonly ArrayBufferWriter<byte> _scratch = new();
    private MessagePackFuzzFrame? _inFlight;
    private long _inFlightSince;

    /// <summary>The frame being decoded now and for how long, or null between frames (for a watchdog on another thread).</summary>
    public (MessagePackFuzzFrame Frame, TimeSpan For)? InFlight
    {
        get
        {
            var frame = Volatile.Read(ref _inFlight);
            var since = Interlocked.Read(ref _inFlightSince);
            return frame is null ? null : (frame, Stopwatch.GetElapsedTime(since));
        }
    }

    /// <summary>Decodes <paramref name="frames"/> fuzzed frames; the first tenth (at most 20,000) warm up before the heap is measured.</summary>
    public DecoderFuzzReport Run(long frames)
    {
        var report = new DecoderFuzzReport { HeapAtStart = GC.GetTotalMemory(forceFullCollection: true) };
        var warmUp = Math.Min(frames / 10, 20_000);
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < frames; i++)
        {
            if (i == warmUp)
            {
                report.HeapAfterWarmUp = GC.GetTotalMemory(forceFullCollection: true);
            }
            var frame = fuzzer.Next();
            var started = Stopwatch.GetTimestamp();
            Interlocked.Exchange(ref _inFlightSince, started);
            Volatile.Write(ref _inFlight, frame);
            Decode(frame, report);
            Volatile.Write(ref _inFlight, null);
            var took = Stopwatch.GetElapsedTime(started);
            if (took > report.Slowest)
            {
                report.Slowest = took;
                report.SlowestFrame = frame;
            }
            if (took.TotalMilliseconds > 10)
            {
                report.Over10Ms++;
            }
        }
        report.Elapsed = clock.Elapsed;
        report.HeapAtEnd = GC.GetTotalMemory(forceFullCollection: true);
        return report;
    }

    /// <summary>Decodes one frame both ways and files the outcomes.</summary>
    public void Decode(MessagePackFuzzFrame frame, DecoderFuzzReport report)
    {
        report.Frames++;
        report.Bytes += frame.Bytes.Length;
        string toJson;
        try
        {
            var json = Codec.ToJson(frame.Bytes, _scratch);
            toJson = "json";
            if (!IsOneJsonObject(json.Span, out var why))
            {
                Bug(report, frame, "ToJson: not one JSON object", why + ": " + System.Text.Encoding.UTF8.GetString(json.Span));
            }
        }
        catch (FrameFormatException e)
        {
            toJson = e.Code.ToString();
        }
        catch (Exception e)
        {
            toJson = "BUG " + e.GetType().Name;
            Bug(report, frame, Signature("ToJson", e), e.ToString());
        }
        Count(report.ToJson, toJson);
        var kind = report.Kinds.GetValueOrDefault(frame.Kind);
        report.Kinds[frame.Kind] = (kind.Frames + 1, kind.Refused + (toJson == "json" ? 0 : 1));

        string read;
        try
        {
            Codec.Read(frame.Bytes);
            read = "frame";
        }
        catch (FrameFormatException e)
        {
            read = e.Code.ToString();
        }
        catch (Exception e)
        {
            read = "BUG " + e.GetType().Name;
            Bug(report, frame, Signature("Read", e), e.ToString());
        }
        Count(report.Read, read);
        if (toJson != "json" && !toJson.StartsWith("BUG", StringComparison.Ordinal) && read != toJson)
        {
            Bug(report, frame, $"Read: {read} where ToJson refused with {toJson}", "");
        }
    }

    private static bool IsOneJsonObject(ReadOnlySpan<byte> json, out string why)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                why = "not an object";
                return false;
            }
            reader.Skip();
            why = reader.Read() ? "bytes after the object" : "";
            return why.Length == 0;
        }
        catch (JsonException e)
        {
            why = e.Message;
            return false;
        }
    }

    /// <summary>The method, the exception's type and the two innermost Lockstep frames of its stack, so one bug is one entry however often it happens.</summary>
    private static string Signature(string method, Exception e)
    {
        var at = (e.StackTrace ?? "").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Contains("Lockstep.Protocol.", StringComparison.Ordinal))
            .Select(l => l.IndexOf(" in ", StringComparison.Ordinal) is var i and > 0 ? l[..i] : l)
            .Take(2);
        return $"{method}: {e.GetType().FullName} {string.Join(" ", at)}";
    }

    private static void Bug(DecoderFuzzReport report, MessagePackFuzzFrame frame, string signature, string detail)
    {
        if (report.Bugs.TryGetValue(signature, out var bug))
        {
            bug.Count++;
        }
        else
        {
            report.Bugs[signature] = new DecoderBug(signature, frame, detail);
        }
    }

    private static void Count(Dictionary<string, long> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
}
