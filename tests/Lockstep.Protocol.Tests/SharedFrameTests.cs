using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// A frame encoded once and addressed to each subscriber by splicing its subscription id in gives exactly the
/// bytes of encoding the frame with that id: for every golden chg and removed frame, in both encodings, and for
/// any id (escapes, non-ASCII, long ids that change MessagePack's string header).
/// </summary>
public sealed class SharedFrameTests
{
    public static TheoryData<string, string> Shared()
    {
        var data = new TheoryData<string, string>();
        foreach (var e in Fixture.Entries.Where(e => e.Json.StartsWith("{\"t\":\"chg\"", StringComparison.Ordinal) || e.Json.StartsWith("{\"t\":\"removed\"", StringComparison.Ordinal)))
        {
            data.Add(e.Name, "json");
            data.Add(e.Name, "msgpack");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Shared))]
    public void Splicing_the_golden_frames_sub_gives_the_golden_bytes(string name, string encoding)
    {
        var codec = encoding == "json" ? FrameCodecs.Json : FrameCodecs.MessagePack;
        var frame = FrameCodecs.Json.Read(Encoding.UTF8.GetBytes(Fixture.Get(name).Json));
        var shared = SharedFrame.Encode(codec, frame);
        var sub = frame switch
        {
            ChangeFrame f => f.Sub,
            RemovedFrame f => f.Sub,
            _ => throw new InvalidOperationException(name),
        };
        Assert.Equal(Write(codec, frame), Splice(shared, sub));
    }

    [Fact]
    public void Any_sub_spliced_in_gives_the_frame_written_with_it()
    {
        var frames = new Frame[]
        {
            new ChangeFrame("x", 42, "doc-1", 7, ChangeKind.Delta) { Body = new RawJson("{\"title\":\"é\\\"\"}"), Unset = new RawJson("[\"a\"]") },
            new ChangeFrame("x", 43, "d", 1, ChangeKind.Entered) { Body = new RawJson("{}") },
            new ChangeFrame("x", 44, "d", 2, ChangeKind.Deleted),
            new RemovedFrame("x", 45, "d", 3),
        };
        Prop.ForAll(ArbMap.Default.ArbFor<NonNull<string>>(), sub =>
        {
            foreach (var codec in new[] { FrameCodecs.Json, FrameCodecs.MessagePack })
            {
                foreach (var frame in frames)
                {
                    var named = frame switch
                    {
                        ChangeFrame f => (Frame)(f with { Sub = sub.Get }),
                        RemovedFrame f => f with { Sub = sub.Get },
                        _ => frame,
                    };
                    Assert.Equal(Write(codec, named), Splice(SharedFrame.Encode(codec, frame), sub.Get));
                }
            }
        }).QuickCheckThrowOnFailure();
        // A 40-character id: MessagePack's str8 header rather than a fixstr.
        var longSub = new string('s', 40);
        var change = new ChangeFrame(longSub, 1, "d", 1, ChangeKind.Deleted);
        Assert.Equal(Write(FrameCodecs.MessagePack, change), Splice(SharedFrame.Encode(FrameCodecs.MessagePack, change), longSub));
    }

    [Fact]
    public void Only_frames_addressed_to_a_subscription_are_shared()
    {
        Assert.Throws<ArgumentException>(() => SharedFrame.Encode(FrameCodecs.Json, new PositionFrame(3)));
    }

    private static byte[] Write(IFrameCodec codec, Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        codec.Write(frame, output);
        return output.WrittenSpan.ToArray();
    }

    private static byte[] Splice(SharedFrame shared, string sub)
    {
        var output = new ArrayBufferWriter<byte>();
        shared.WriteTo(sub, output);
        return output.WrittenSpan.ToArray();
    }
}
