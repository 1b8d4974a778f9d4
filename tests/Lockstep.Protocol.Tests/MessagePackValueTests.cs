using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>JSON values through MessagePack and back (docs/protocol.md §11, "Values"), and what the decoder refuses.</summary>
public sealed class MessagePackValueTests
{
    private static string RoundTrip(string docJson)
    {
        var frame = new ChangeFrame("s", 1, "d", 1, ChangeKind.Entered) { Body = new RawJson(docJson) };
        var bytes = new ArrayBufferWriter<byte>();
        FrameCodecs.MessagePack.Write(frame, bytes);
        var back = (ChangeFrame)FrameCodecs.MessagePack.Read(bytes.WrittenMemory);
        return back.Body!.Value.Json;
    }

    [Theory]
    [InlineData("{\"a\":1,\"b\":-1,\"c\":127,\"d\":128,\"e\":-33,\"f\":4294967296,\"g\":9223372036854775807,\"h\":-9223372036854775808,\"i\":18446744073709551615}")]
    [InlineData("{\"x\":0.5,\"y\":-2.25,\"z\":1E+300,\"w\":[1,[2,[3]],{}],\"s\":\"é 😀 \\\"q\\\" \\n\",\"n\":null,\"t\":true,\"f\":false}")]
    [InlineData("{}")]
    public void Documents_come_back_as_the_same_JSON_values(string json)
    {
        var back = RoundTrip(json);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), JsonNode.Parse(back)), back);
    }

    [Fact]
    public void Integers_take_their_smallest_form_and_other_numbers_float64()
    {
        var bytes = new ArrayBufferWriter<byte>();
        FrameCodecs.MessagePack.Write(new PositionFrame(5), bytes);
        Assert.Equal("920d05", Convert.ToHexStringLower(bytes.WrittenSpan));
        bytes.ResetWrittenCount();
        FrameCodecs.MessagePack.Write(new ChangeFrame("s", 1, "d", 1, ChangeKind.Delta) { Body = new RawJson("{\"a\":-1,\"b\":1.0,\"c\":300}") }, bytes);
        // ... 83 a1 61 ff (negative fixint) a1 62 cb 3ff0000000000000 (1.0 has a fraction: float 64) a1 63 cd 012c
        Assert.EndsWith("83a161ffa162cb3ff0000000000000a163cd012c", Convert.ToHexStringLower(bytes.WrittenSpan), StringComparison.Ordinal);
    }

    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Any_json_document_survives_the_trip() =>
        Prop.ForAll(Arb.From(JsonGen.Document()), json => JsonNode.DeepEquals(JsonNode.Parse(json), JsonNode.Parse(RoundTrip(json))));

    [Theory]
    [InlineData("", "an empty message")]
    [InlineData("c0", "nil, not an array")]
    [InlineData("81a17401", "a map")]
    [InlineData("90", "an empty array")]
    [InlineData("91a3636867", "a type that is a str")]
    [InlineData("920d", "truncated")]
    [InlineData("920d0500", "a byte after the frame")]
    [InlineData("dd7fffffff0d", "an array header claiming 2^31 elements")]
    [InlineData("9207c4020000", "bin where the fields belong")]
    [InlineData("92078101a0", "a map key that is not a str")]
    [InlineData("920781a26964a2c328", "a str that is not UTF-8")]
    [InlineData("920781a26964cb7ff8000000000000", "NaN")]
    [InlineData("920781a26964d6ff00000000", "a timestamp ext")]
    [InlineData("970ba1730101a164030f", "a chg kind that is none")]
    public void Malformed_messages_are_bad_frames(string hex, string what)
    {
        var e = Assert.Throws<FrameFormatException>(() => FrameCodecs.MessagePack.ToJson(Convert.FromHexString(hex), new ArrayBufferWriter<byte>()));
        Assert.True(e.Code == ErrorCodes.BadFrame, what + ": " + e.Code.Code);
    }

    [Fact]
    public void An_unknown_type_number_is_unknown_type()
    {
        var e = Assert.Throws<FrameFormatException>(() => FrameCodecs.MessagePack.ToJson(Convert.FromHexString("921180"), new ArrayBufferWriter<byte>()));
        Assert.Equal(ErrorCodes.UnknownType, e.Code);
    }

    [Fact]
    public void Deep_nesting_is_refused_not_a_stack_overflow()
    {
        var hex = "920781a26964" + string.Concat(Enumerable.Repeat("91", 10_000)) + "00";
        var e = Assert.Throws<FrameFormatException>(() => FrameCodecs.MessagePack.ToJson(Convert.FromHexString(hex), new ArrayBufferWriter<byte>()));
        Assert.Equal(ErrorCodes.BadFrame, e.Code);
    }

    [Fact]
    public void Wrong_types_in_a_mut_stay_wrong_for_the_server_to_refuse()
    {
        // [5, 1, nil, [[0, 7, "d", nil, "not a doc"]]]: a collection that is a number, a doc that is a string
        var json = FrameCodecs.MessagePack.ToJson(Convert.FromHexString("940501c091950007a164c0a9" + Convert.ToHexStringLower("not a doc"u8)), new ArrayBufferWriter<byte>());
        Assert.Equal("{\"t\":\"mut\",\"id\":1,\"ops\":[{\"op\":\"put\",\"collection\":7,\"id\":\"d\",\"doc\":\"not a doc\"}]}", Encoding.UTF8.GetString(json.Span));
    }
}

internal static class JsonGen
{
    public static Gen<string> Document() => Object(3).Select(o => o.ToJsonString());

    private static Gen<JsonNode?> Value(int depth)
    {
        var scalars = Gen.OneOf(
            Gen.Constant<JsonNode?>(null),
            ArbMap.Default.GeneratorFor<bool>().Select(b => (JsonNode?)JsonValue.Create(b)),
            ArbMap.Default.GeneratorFor<long>().Select(l => (JsonNode?)JsonValue.Create(l)),
            ArbMap.Default.GeneratorFor<NormalFloat>().Select(f => (JsonNode?)JsonValue.Create(f.Get)),
            ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => (JsonNode?)JsonValue.Create(Text(s.Get))));
        return depth == 0 ? scalars : Gen.OneOf(scalars, Object(depth - 1).Select(o => (JsonNode?)o), Gen.ListOf(Value(depth - 1)).Select(l => (JsonNode?)new JsonArray([.. l])));
    }

    private static Gen<JsonObject> Object(int depth) =>
        Gen.ListOf(ArbMap.Default.GeneratorFor<NonNull<string>>().Select(s => Text(s.Get)).Zip(Value(depth)))
            .Select(pairs =>
            {
                var o = new JsonObject();
                foreach (var (k, v) in pairs)
                {
                    o[k] = v;
                }
                return o;
            });

    // Only text: a lone surrogate is no JSON string the protocol allows.
    private static string Text(string s) => new([.. s.Where(c => !char.IsSurrogate(c))]);
}
