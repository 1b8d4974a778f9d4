using System.Buffers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// The golden frames of tests/fixtures/frames.json — the same file the TypeScript client's tests read — in
/// both encodings: each JSON text reads and writes back byte for byte, its MessagePack spelling is exactly the
/// bytes given, and those bytes read back to the same frame. Change the file only with docs/protocol.md.
/// </summary>
public sealed class GoldenFrameTests
{
    public static TheoryData<string> Names() => [.. Fixture.Entries.Select(e => e.Name)];

    [Theory]
    [MemberData(nameof(Names))]
    public void Json_reads_and_writes_back_byte_for_byte(string name)
    {
        var entry = Fixture.Get(name);
        var frame = FrameCodecs.Json.Read(Encoding.UTF8.GetBytes(entry.Json));
        Assert.Equal(entry.Json, Fixture.JsonOf(frame));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MessagePack_writes_the_documented_bytes(string name)
    {
        var entry = Fixture.Get(name);
        var frame = FrameCodecs.Json.Read(Encoding.UTF8.GetBytes(entry.Json));
        var output = new ArrayBufferWriter<byte>();
        FrameCodecs.MessagePack.Write(frame, output);
        Assert.Equal(entry.MessagePack, Convert.ToHexStringLower(output.WrittenSpan));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MessagePack_reads_back_to_the_same_frame(string name)
    {
        var entry = Fixture.Get(name);
        var frame = FrameCodecs.MessagePack.Read(Convert.FromHexString(entry.MessagePack));
        Assert.Equal(entry.Json, Fixture.JsonOf(frame));
        Assert.Equal(entry.From == "client", frame is HelloFrame or SubscribeFrame or UnsubscribeFrame or MutateFrame or CallFrame or PingFrame);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void MessagePack_spelt_as_json_means_the_same_object(string name)
    {
        var entry = Fixture.Get(name);
        var json = FrameCodecs.MessagePack.ToJson(Convert.FromHexString(entry.MessagePack), new ArrayBufferWriter<byte>());
        using var got = JsonDocument.Parse(json);
        using var expected = JsonDocument.Parse(entry.Json);
        Assert.True(JsonElement.DeepEquals(expected.RootElement, got.RootElement), Encoding.UTF8.GetString(json.Span));
    }

    [Fact]
    public void A_single_field_update_is_under_32_bytes_in_MessagePack()
    {
        var entry = Fixture.Get("chg-delta-one-field");
        // The WebSocket header of a server frame under 126 bytes is 2 bytes.
        Assert.True(entry.MessagePack.Length / 2 + 2 <= 32, $"{entry.MessagePack.Length / 2} B");
        Assert.True(Encoding.UTF8.GetByteCount(entry.Json) + 2 <= 70);
    }
}

internal sealed record FixtureEntry(string Name, string From, string Json, string MessagePack);

internal static class Fixture
{
    public static IReadOnlyList<FixtureEntry> Entries { get; } = Load();

    public static FixtureEntry Get(string name) => Entries.Single(e => e.Name == name);

    public static string JsonOf(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameCodecs.Json.Write(frame, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static List<FixtureEntry> Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "frames.json")));
        return [.. document.RootElement.EnumerateArray().Select(e => new FixtureEntry(
            e.GetProperty("name").GetString()!, e.GetProperty("from").GetString()!, e.GetProperty("json").GetString()!, e.GetProperty("msgpack").GetString()!))];
    }
}
