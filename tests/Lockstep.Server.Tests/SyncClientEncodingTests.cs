using System.Text.Json.Nodes;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The socket test client in MessagePack: the same frames, the same views, fewer bytes, and what tests read of it stays JSON.</summary>
public sealed class SyncClientEncodingTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_MessagePack_test_client_sees_the_frames_and_views_a_JSON_one_sees_in_fewer_bytes()
    {
        var c = Ops.Unique();
        await using var writer = await SyncClient.ConnectAsync(_server.SyncUrl, "w", codec: FrameCodecs.MessagePack);
        await using var json = await SyncClient.ConnectAsync(_server.SyncUrl, "j", codec: FrameCodecs.Json);
        await using var binary = await SyncClient.ConnectAsync(_server.SyncUrl, "b", codec: FrameCodecs.MessagePack);
        Assert.Equal("welcome", (string?)binary.Welcome["t"]);
        Assert.IsType<WelcomeFrame>(binary.Received[0]);
        await json.SubscribeAsync("s", c);
        await binary.SubscribeAsync("s", c, new JsonObject { ["n"] = new JsonObject { ["$gte"] = 0 } });
        var before = (Json: json.BytesReceived, Binary: binary.BytesReceived);

        await writer.MutateAsync(7, Ops.Put(c, "d1", new { title = "é", n = 1, tags = new[] { "a" }, meta = new { x = 1.5 } }));
        await writer.MutateAsync(Ops.Patch(c, "d1", new { n = 2, title = "two" }), Ops.Unset(c, "d1", "meta.x"), Ops.Inc(c, "d1", "n", 3));
        await writer.MutateAsync(Ops.Put(c, "d2", new { n = -1 }));
        var last = await writer.MutateAsync(Ops.Patch(c, "d2", new { n = 9 }));
        Assert.Equal("ack", (string?)last["t"]);
        var seq = (long)last["seq"]!;
        await json.WaitForSeqAsync(seq);
        await binary.WaitForSeqAsync(seq);

        Assert.Empty(json.Violations);
        Assert.Empty(binary.Violations);
        // d2 entered the filtered subscription only with its second version.
        Assert.Equal(json.Views["s"].Keys.Order(), binary.Views["s"].Keys.Order());
        foreach (var (id, (version, doc)) in json.Views["s"])
        {
            Assert.Equal(version, binary.Views["s"][id].Version);
            Assert.True(JsonNode.DeepEquals(doc, binary.Views["s"][id].Doc), $"{id}: {doc.ToJsonString()} vs {binary.Views["s"][id].Doc.ToJsonString()}");
        }
        Assert.Equal(5, (int)json.Views["s"]["d1"].Doc["n"]!);
        Assert.Contains(binary.Stream, f => (string?)f["t"] == "chg" && (string?)f["id"] == "d2" && f["doc"] is JsonObject);
        Assert.True(binary.BytesReceived - before.Binary < json.BytesReceived - before.Json,
            $"MessagePack {binary.BytesReceived - before.Binary} B, JSON {json.BytesReceived - before.Json} B");
    }

    [Fact]
    public async Task A_MessagePack_test_client_is_refused_as_a_JSON_one_is()
    {
        var c = Ops.Unique();
        await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, "b", codec: FrameCodecs.MessagePack);
        await client.MutateAsync(Ops.Put(c, "d", new { x = 1 }));
        var conflict = await client.MutateAsync(Ops.Patch(c, "d", new { x = 2 }, ifVersion: 3));
        Assert.Equal(("error", "version_conflict"), ((string?)conflict["t"], (string?)conflict["code"]));
        Assert.Equal(1, (long)conflict["current"]!["v"]!);
        Assert.Equal(1, (int)conflict["current"]!["doc"]!["x"]!);
        var error = Assert.IsType<ErrorFrame>(client.Received[^1]);
        Assert.Equal(ErrorCodes.VersionConflict.Code, error.Code);
    }
}
