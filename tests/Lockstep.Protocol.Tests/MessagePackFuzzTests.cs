using Lockstep.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// A seeded run of the MessagePack fuzz harness against the decoder (tests/tools/Lockstep.Fuzz --decoder runs a
/// million by hand), and every cut and every bit flip of every golden frame: the only outcomes allowed are a
/// result or a <see cref="FrameFormatException"/>, with no hang and no growth of the managed heap.
/// </summary>
public sealed class MessagePackFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261202;

    /// <summary>Far above the slowest frame ever seen (milliseconds): past it a frame is taken for a hang.</summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);

    private static readonly MessagePackFrameCodec Codec = new();

    [Fact]
    public async Task Fifty_thousand_hostile_frames_are_each_spelt_as_JSON_or_refused_with_a_FrameFormatException()
    {
        var report = await RunAsync(50_000);

        Assert.False(report.ToJsonBugs.Any(), string.Join("\n\n", report.ToJsonBugs));
        Assert.Equal(50_000, report.ToJson.Values.Sum());
        Assert.Equal(0, report.Kinds[MessagePackFuzzKind.Valid].Refused);
        foreach (var kind in new[] { MessagePackFuzzKind.Truncated, MessagePackFuzzKind.Trailing, MessagePackFuzzKind.Empty, MessagePackFuzzKind.UnknownType, MessagePackFuzzKind.NonFinite })
        {
            // Every frame of these kinds is one the spec refuses (a NaN or infinity replacing a nil field skipped by a
            // positional frame is the one exception: an absent field is not read).
            var (frames, refused) = report.Kinds[kind];
            Assert.True(kind == MessagePackFuzzKind.NonFinite ? refused > frames * 9 / 10 : refused == frames, $"{kind}: {refused} of {frames} refused");
        }
        Assert.True(report.ToJson.GetValueOrDefault("bad_frame") > 0 && report.ToJson.GetValueOrDefault("unknown_type") > 0 && report.ToJson.GetValueOrDefault("json") > 0);
        // Bounded, not tight: the codec keeps a writer per thread and nothing per frame.
        Assert.True(report.HeapAtEnd - report.HeapAfterWarmUp < 16 << 20, $"managed heap grew by {(report.HeapAtEnd - report.HeapAfterWarmUp) / 1024} KiB");
    }

    [Fact]
    public async Task Fifty_thousand_hostile_frames_are_each_read_or_refused_with_a_FrameFormatException()
    {
        var report = await RunAsync(50_000);
        Assert.False(report.ReadBugs.Any(), string.Join("\n\n", report.ReadBugs));
    }

    [Fact]
    public void Every_cut_of_every_golden_frame_is_bad_frame()
    {
        var cuts = 0;
        foreach (var frame in MessagePackFuzzer.GoldenFrames())
        {
            for (var length = 0; length < frame.Length; length++)
            {
                // A MessagePack value has no proper prefix that is a value, so every cut is refused, by both doors.
                var cut = frame[..length];
                Assert.Equal(ErrorCodes.BadFrame, Assert.Throws<FrameFormatException>(() => Codec.ToJson(cut, new())).Code);
                Assert.Equal(ErrorCodes.BadFrame, Assert.Throws<FrameFormatException>(() => Codec.Read(cut)).Code);
                cuts++;
            }
        }
        output.WriteLine($"{cuts} cuts");
    }

    [Fact]
    public void Every_bit_flip_of_every_golden_frame_is_spelt_as_JSON_or_refused_with_a_FrameFormatException()
    {
        var fuzz = new MessagePackDecoderFuzz(new MessagePackFuzzer(Seed, MessagePackFuzzer.GoldenFrames()));
        var report = new DecoderFuzzReport();
        foreach (var frame in MessagePackFuzzer.GoldenFrames())
        {
            for (var bit = 0; bit < frame.Length * 8; bit++)
            {
                var flipped = (byte[])frame.Clone();
                flipped[bit / 8] ^= (byte)(1 << (bit % 8));
                fuzz.Decode(new MessagePackFuzzFrame(flipped, MessagePackFuzzKind.Flipped), report);
            }
        }
        output.WriteLine(report.ToString());
        Assert.False(report.ToJsonBugs.Any(), string.Join("\n\n", report.ToJsonBugs));
        Assert.True(report.ToJson.GetValueOrDefault("json") > 0 && report.ToJson.GetValueOrDefault("bad_frame") > 0);
    }

    /// <summary>Frames the fuzzer found that make <see cref="MessagePackFrameCodec.Read"/> throw InvalidOperationException (JSON spellings in the comments).</summary>
    [Theory]
    [InlineData("940501c091c0")] // {"t":"mut","id":1,"ops":[null]}
    [InlineData("940501c09101")] // {"t":"mut","id":1,"ops":[1]} (an op that is not an array is spelt null)
    [InlineData("940501c0919601a163a164c0809101")] // {"t":"mut","id":1,"ops":[{"op":"patch","collection":"c","id":"d","set":{},"unset":[1]}]}
    [InlineData("920181a4737562739101")] // {"t":"hello","subs":[1]}
    [InlineData("940e010191c0")] // {"t":"ack","id":1,"seq":1,"results":[null]}
    [InlineData("960902aa6f70656e2d7461736b73cd04b091cbfff0000000000000c2")] // [9, 2, "open-tasks", 1200, [-Infinity], false]: a docs item that is not an array is skipped unread and spelt null
    [InlineData("960902a173019101c2")] // {"t":"snapshot","id":2,"sub":"s","seq":1,"docs":[null],"last":false}
    public void Read_refuses_items_of_the_wrong_type_with_a_FrameFormatException(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        var e = Record.Exception(() => Codec.Read(bytes));
        Assert.IsType<FrameFormatException>(e);
    }

    /// <summary>Frames the fuzzer's Appended kind found accepted before values nobody reads were checked too: a value §11 calls bad_frame is one wherever it stands.</summary>
    [Theory]
    [InlineData("930d01c403010203")] // [13, 1, bin]: a bin past pos's layout
    [InlineData("930d01cb7ff8000000000000")] // [13, 1, NaN]
    [InlineData("930d01a261ff")] // [13, 1, "a\xff"]: not UTF-8
    [InlineData("930d01d6ff00000000")] // [13, 1, timestamp 32]
    [InlineData("930781a2696401c403010203")] // [7, {"id": 1}, bin]: after a map-form frame's map
    [InlineData("940501c091c403010203")] // [5, 1, nil, [bin]]: an op that is not an array is spelt null (the server answers invalid_request)
    [InlineData("970ba17301a1640102c403010203")] // [11, "s", 1, "d", 1, 2, bin]: a deleted chg's body
    [InlineData("920781a174c403010203")] // [7, {"t": bin}]
    public void A_value_the_spec_refuses_is_bad_frame_where_the_decoder_skips_it(string hex)
    {
        var e = Assert.Throws<FrameFormatException>(() => Codec.ToJson(Convert.FromHexString(hex), new()));
        Assert.Equal(ErrorCodes.BadFrame, e.Code);
    }

    [Fact]
    public void Nesting_past_64_levels_is_bad_frame_where_the_decoder_skips_it()
    {
        // [13, 1, [[[…1…]]]] a thousand deep, past pos's layout (a million deep is skipped just as well, in linear time).
        byte[] frame = [0x93, 0x0d, 0x01, .. Enumerable.Repeat((byte)0x91, 1000), 0x01];
        var e = Assert.Throws<FrameFormatException>(() => Codec.ToJson(frame, new()));
        Assert.Equal(ErrorCodes.BadFrame, e.Code);
    }

    private async Task<DecoderFuzzReport> RunAsync(long frames)
    {
        var fuzz = new MessagePackDecoderFuzz(new MessagePackFuzzer(Seed, MessagePackFuzzer.GoldenFrames()));
        var run = Task.Run(() => fuzz.Run(frames));
        while (!run.IsCompleted)
        {
            if (fuzz.InFlight is { } stuck && stuck.For > HangBound)
            {
                Assert.Fail($"still decoding after {stuck.For.TotalSeconds:F0} s: {stuck.Frame}");
            }
            await Task.WhenAny(run, Task.Delay(100));
        }
        var report = await run;
        output.WriteLine(report.ToString());
        foreach (var bug in report.Bugs.Values)
        {
            output.WriteLine("BUG: " + bug);
        }
        return report;
    }
}
