using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// Freezes the exact bytes of the wire frames in docs/protocol.md: an accidental change to the
/// protocol fails here. Change these only together with the protocol document (and its version).
/// </summary>
public sealed class ProtocolGoldenTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Frames_match_the_documented_bytes()
    {
        await using var writer = await _server.ConnectAsync("golden-w");
        await using var reader = await _server.ConnectAsync("golden-r");
        Assert.Equal("{\"t\":\"welcome\",\"id\":\"r1\",\"session\":\"" + (string)reader.Welcome["session"]! + "\",\"head\":0,\"horizon\":0,\"cursor\":0,\"heartbeatMs\":500,\"idleTimeoutMs\":30000,\"maxFrameBytes\":1048576,\"protocol\":1}",
            reader.Welcome.ToJsonString());

        var put = await writer.MutateAsync(1, Ops.Put("tasks", "t1", new { title = "Write spec", status = "open", meta = new { owner = "ana" } }));
        Assert.Equal("{\"t\":\"ack\",\"id\":\"r2\",\"seq\":1,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1}]}", put.ToJsonString());

        await reader.SubscribeAsync("open", "tasks", new { status = "open" });
        Assert.Equal("{\"t\":\"snapshot\",\"id\":\"r2\",\"sub\":\"open\",\"seq\":1,\"docs\":[{\"id\":\"t1\",\"v\":1,\"doc\":{\"title\":\"Write spec\",\"status\":\"open\",\"meta\":{\"owner\":\"ana\"}}}],\"last\":true}",
            reader.Stream[0].ToJsonString());

        await writer.MutateAsync(2, Ops.Patch("tasks", "t1", new Dictionary<string, object> { ["title"] = "Write the spec", ["meta.owner"] = "bo" }));
        await writer.MutateAsync(3, Ops.Unset("tasks", "t1", "meta"));
        await writer.MutateAsync(4, Ops.Put("tasks", "t2", new { status = "open" }));
        await writer.MutateAsync(5, Ops.Patch("tasks", "t2", new { status = "done" }));
        await writer.MutateAsync(6, Ops.Delete("tasks", "t1"));
        var conflict = await writer.MutateAsync(7, Ops.Patch("tasks", "t2", new { status = "x" }, ifVersion: 1));
        await reader.WaitForSeqAsync(6);

        string[] expected =
        [
            "{\"t\":\"chg\",\"sub\":\"open\",\"seq\":2,\"id\":\"t1\",\"v\":2,\"set\":{\"title\":\"Write the spec\",\"meta.owner\":\"bo\"}}",
            "{\"t\":\"chg\",\"sub\":\"open\",\"seq\":3,\"id\":\"t1\",\"v\":3,\"set\":{},\"unset\":[\"meta\"]}",
            "{\"t\":\"chg\",\"sub\":\"open\",\"seq\":4,\"id\":\"t2\",\"v\":1,\"doc\":{\"status\":\"open\"}}",
            "{\"t\":\"removed\",\"sub\":\"open\",\"seq\":5,\"id\":\"t2\",\"v\":2}",
            "{\"t\":\"chg\",\"sub\":\"open\",\"seq\":6,\"id\":\"t1\",\"v\":4,\"del\":true}",
        ];
        Assert.Equal(string.Join("\n", expected), string.Join("\n", reader.Stream.Skip(1).Where(f => (string?)f["t"] != "pos").Select(f => f.ToJsonString())));
        Assert.Equal("{\"t\":\"error\",\"id\":\"r8\",\"code\":\"version_conflict\",\"message\":\"tasks/t2 must be at version 1 but is at version 2.\",\"op\":0,\"current\":{\"collection\":\"tasks\",\"id\":\"t2\",\"v\":2,\"doc\":{\"status\":\"done\"}}}",
            conflict.ToJsonString());
    }

    [Fact]
    public async Task Deltas_set_dotted_paths_inside_objects_both_versions_have_and_whole_values_elsewhere()
    {
        // A server of its own: the test above pins a welcome at head 0.
        await using var server = await TestServer.StartAsync();
        await using var writer = await server.ConnectAsync("golden-delta-w");
        await using var reader = await server.ConnectAsync("golden-delta-r");
        await reader.SubscribeAsync("all", "deltas");
        await writer.MutateAsync(Ops.Put("deltas", "d", new { meta = new { owner = "ana", tags = new[] { "a" } }, n = 1 }));
        await writer.MutateAsync(Ops.Patch("deltas", "d", new Dictionary<string, object> { ["meta.owner"] = "bo", ["address"] = new { city = "Oslo" } }));
        await writer.MutateAsync(Ops.Put("deltas", "d", new { meta = new { tags = new[] { "a", "b" } }, n = new { value = 1 }, address = new { city = "Oslo" } }));
        var last = await writer.MutateAsync(Ops.Put("deltas", "d", new { meta = 5, n = new { value = 1 }, address = new { city = "Oslo" } }));
        await reader.WaitForSeqAsync((long)last["seq"]!);
        string[] expected =
        [
            // an object on both sides: the paths inside it; a new key or a value of another kind: the whole value
            "\"set\":{\"meta.owner\":\"bo\",\"address\":{\"city\":\"Oslo\"}}",
            "\"set\":{\"meta.tags\":[\"a\",\"b\"],\"n\":{\"value\":1}},\"unset\":[\"meta.owner\"]",
            "\"set\":{\"meta\":5}",
        ];
        var deltas = reader.Stream.Where(f => (string?)f["t"] == "chg" && f["set"] is not null)
            .Select(f => f.ToJsonString()).Select(json => json[(json.IndexOf("\"set\"", StringComparison.Ordinal))..^1]);
        Assert.Equal(expected, deltas);
    }
}
