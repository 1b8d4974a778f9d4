using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

public sealed class SyncTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Hello_is_answered_with_welcome_carrying_head_and_limits()
    {
        await using var client = await _server.ConnectAsync("c1");
        Assert.Equal("welcome", (string?)client.Welcome["t"]);
        Assert.NotNull(client.Welcome["head"]);
        Assert.Equal(1 << 20, (int)client.Welcome["maxFrameBytes"]!);
        Assert.Equal(1, (int)client.Welcome["protocol"]!);
        var pong = await client.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }

    [Fact]
    public async Task Changes_fan_out_to_every_subscriber_in_order_with_deltas_only()
    {
        var c = Ops.Unique();
        var readers = new List<SyncClient>();
        for (var i = 0; i < 3; i++)
        {
            var r = await _server.ConnectAsync();
            await r.SubscribeAsync("s", c);
            readers.Add(r);
        }
        await using var writer = await _server.ConnectAsync("w");
        var ack1 = await writer.MutateAsync(Ops.Put(c, "d1", new { title = "a", body = new string('x', 500), n = 1 }));
        Assert.Equal("ack", (string?)ack1["t"]);
        var ack2 = await writer.MutateAsync(Ops.Patch(c, "d1", new { n = 2 }));
        var lastSeq = (long)ack2["seq"]!;

        foreach (var r in readers)
        {
            var delta = await r.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == lastSeq);
            Assert.Equal(2, (long)delta["v"]!);
            Assert.Null(delta["doc"]);
            Assert.Equal("{\"n\":2}", delta["set"]!.ToJsonString());
            Assert.True(delta.ToJsonString().Length < 100, "a one-field delta stays small: " + delta.ToJsonString());
            var created = r.Stream.Single(f => (string?)f["t"] == "chg" && (long)f["v"]! == 1);
            Assert.Equal("a", (string?)created["doc"]!["title"]);
            Assert.Empty(r.Violations);
            Assert.Equal(2, r.Views["s"]["d1"].Version);
            await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_clients_own_numbered_change_carries_its_mid_and_nobody_elses_does()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("own-writer");
        await writer.SubscribeAsync("s", c);
        await using var other = await _server.ConnectAsync("other-reader");
        await other.SubscribeAsync("s", c);

        var ack = await writer.MutateAsync(41, Ops.Put(c, "d1", new { n = 1 }));
        var seq = (long)ack["seq"]!;

        var own = await writer.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == seq);
        Assert.Equal(41, (long?)own["mid"]);
        var theirs = await other.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == seq);
        Assert.Null(theirs["mid"]);
    }

    [Fact]
    public async Task Snapshot_then_live_changes_have_no_gap_and_no_duplicate_under_concurrent_writes()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w");
        for (var i = 0; i < 50; i++)
        {
            await writer.MutateAsync(Ops.Put(c, "d" + i, new { n = 0 }));
        }
        using var stop = new CancellationTokenSource();
        var writes = Task.Run(async () =>
        {
            for (var i = 0; i < 400; i++)
            {
                await writer.MutateAsync(Ops.Inc(c, "d" + (i % 50), "n", 1));
            }
        });
        await Task.Delay(30);
        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("s", c);
        await writes;
        await reader.WaitForSeqAsync(_server.Engine.Head);

        Assert.Empty(reader.Violations);
        var total = reader.Views["s"].Values.Sum(d => (long)d.Doc["n"]!);
        Assert.Equal(400, total);
        var seqs = reader.Stream.Where(f => (string?)f["t"] == "chg").Select(f => (long)f["seq"]!).ToList();
        Assert.Equal(seqs.Distinct().Count(), seqs.Count);
        Assert.True(seqs.SequenceEqual(seqs.Order()));
    }

    [Fact]
    public async Task A_document_leaving_the_filter_is_sent_as_removed_and_one_entering_is_sent_whole()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w");
        await writer.MutateAsync(Ops.Put(c, "a", new { status = "open", title = "A", n = 1 }));
        await writer.MutateAsync(Ops.Put(c, "b", new { status = "done", title = "B", n = 1 }));
        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("open", c, new { status = "open" });
        Assert.Equal(["a"], reader.Views["open"].Keys);

        await writer.MutateAsync(Ops.Patch(c, "a", new { status = "done" }));
        var removed = await reader.WaitForAsync(f => (string?)f["t"] == "removed");
        Assert.Equal("a", (string?)removed["id"]);

        var enter = await writer.MutateAsync(Ops.Patch(c, "b", new { status = "open" }));
        var whole = await reader.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == (long)enter["seq"]!);
        Assert.Equal("B", (string?)whole["doc"]!["title"]);

        var untouched = await writer.MutateAsync(Ops.Patch(c, "a", new { n = 5 }));
        var after = await writer.MutateAsync(Ops.Patch(c, "b", new { n = 7 }));
        var delta = await reader.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == (long)after["seq"]!);
        Assert.Equal("{\"n\":7}", delta["set"]!.ToJsonString());
        Assert.DoesNotContain(reader.Stream, f => f["seq"] is not null && (long)f["seq"]! == (long)untouched["seq"]! && (string?)f["t"] != "pos");
        Assert.Equal(["b"], reader.Views["open"].Keys);
        Assert.Empty(reader.Violations);
    }

    [Fact]
    public async Task Deletes_reach_subscribers_and_unsubscribe_stops_frames()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w");
        await writer.MutateAsync(Ops.Put(c, "a", new { n = 1 }));
        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("s", c);
        var del = await writer.MutateAsync(Ops.Delete(c, "a"));
        var frame = await reader.WaitForAsync(f => (string?)f["t"] == "chg" && (bool?)f["del"] == true);
        Assert.Equal(2, (long)frame["v"]!);
        Assert.Empty(reader.Views["s"]);

        var ok = await reader.RequestAsync(new JsonObject { ["t"] = "unsub", ["sub"] = "s" });
        Assert.Equal("ok", (string?)ok["t"]);
        var later = await writer.MutateAsync(Ops.Put(c, "b", new { n = 1 }));
        await Task.Delay(200);
        Assert.DoesNotContain(reader.Stream, f => (string?)f["t"] == "chg" && (long)f["seq"]! == (long)later["seq"]!);
        var again = await reader.RequestAsync(new JsonObject { ["t"] = "unsub", ["sub"] = "s" });
        Assert.Equal("unknown_subscription", (string?)again["code"]);
        _ = del;
    }

    [Fact]
    public async Task Resume_with_a_cursor_delivers_exactly_the_changes_after_it()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w");
        for (var i = 0; i < 10; i++)
        {
            await writer.MutateAsync(Ops.Put(c, "d" + i, new { n = 0 }));
        }
        var reader = await _server.ConnectAsync("r");
        await reader.SubscribeAsync("s", c);
        await writer.MutateAsync(Ops.Inc(c, "d1", "n", 1));
        await reader.WaitForSeqAsync(_server.Engine.Head);
        var cursor = reader.Cursor;
        var views = reader.Views;
        reader.Abort();
        await reader.DisposeAsync();

        for (var i = 0; i < 30; i++)
        {
            await writer.MutateAsync(Ops.Inc(c, "d" + (i % 10), "n", 1));
        }
        await writer.MutateAsync(Ops.Delete(c, "d9"));
        await writer.MutateAsync(Ops.Put(c, "new", new { n = 100 }));

        await using var again = await _server.ConnectAsync("r", cursor, [new { sub = "s", collection = c }], views);
        Assert.True((bool?)again.Welcome["resumable"]);
        var subscribed = await again.WaitForAsync(f => (string?)f["t"] == "subscribed");
        Assert.Equal(cursor, (long)subscribed["seq"]!);
        await again.WaitForSeqAsync(_server.Engine.Head);

        Assert.Empty(again.Violations);
        var changes = again.Stream.Where(f => (string?)f["t"] == "chg").ToList();
        Assert.Equal(32, changes.Count);
        Assert.All(changes, f => Assert.True((long)f["seq"]! > cursor));
        Assert.Equal(128, again.Views["s"].Values.Sum(d => (long)d.Doc["n"]!));
        Assert.False(again.Views["s"].ContainsKey("d9"));
    }

    [Fact]
    public async Task A_filtered_subscription_resumed_from_the_log_gets_removed_whole_and_delta_frames_right()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("w");
        await writer.MutateAsync(Ops.Put(c, "stays", new { status = "open", n = 0 }));
        await writer.MutateAsync(Ops.Put(c, "leaves", new { status = "open", n = 0 }));
        await writer.MutateAsync(Ops.Put(c, "enters", new { status = "done", n = 0 }));
        await writer.MutateAsync(Ops.Put(c, "outside", new { status = "done", n = 0 }));
        var reader = await _server.ConnectAsync("fr");
        await reader.SubscribeAsync("open", c, new { status = "open" });
        var cursor = reader.Cursor;
        var views = reader.Views;
        reader.Abort();
        await reader.DisposeAsync();

        var stays = await writer.MutateAsync(Ops.Patch(c, "stays", new { n = 1 }));
        var leaves = await writer.MutateAsync(Ops.Patch(c, "leaves", new { status = "done" }));
        var enters = await writer.MutateAsync(Ops.Patch(c, "enters", new { status = "open" }));
        var outside = await writer.MutateAsync(Ops.Patch(c, "outside", new { n = 5 }));
        // two versions of one document in one mutation: the second's before image is the first
        var twice = await writer.MutateAsync(Ops.Patch(c, "stays", new { n = 2 }), Ops.Patch(c, "stays", new { n = 3 }));

        await using var again = await _server.ConnectAsync("fr", cursor, [new { sub = "open", collection = c, filter = new { status = "open" } }], views);
        await again.WaitForSeqAsync((long)twice["seq"]!);
        Assert.Empty(again.Violations);
        string Kind(JsonObject ack) => again.Stream.Where(f => f["seq"] is not null && (long)f["seq"]! == (long)ack["seq"]! && (string?)f["t"] != "pos")
            .Select(f => (string)f["t"]! + (f["doc"] is not null ? ":doc" : f["set"] is not null ? ":delta" : "")).SingleOrDefault() ?? "none";
        Assert.Equal("chg:delta", Kind(stays));
        Assert.Equal("removed", Kind(leaves));
        Assert.Equal("chg:doc", Kind(enters));
        Assert.Equal("none", Kind(outside));
        Assert.Equal("chg:delta", Kind(twice));
        Assert.Equal(["enters", "stays"], again.Views["open"].Keys.Order());
        Assert.Equal(3, (int)again.Views["open"]["stays"].Doc["n"]!);
    }

    [Fact]
    public async Task The_cursor_reaches_changes_committed_with_a_delivered_one_without_another_commit()
    {
        var mine = Ops.Unique();
        await using var reader = await _server.ConnectAsync("pos-reader");
        await reader.SubscribeAsync("s", mine);
        await using var writer = await _server.ConnectAsync("pos-writer");
        // One mutation, one batch: the reader gets a frame for the first change and none for the second.
        var ack = await writer.MutateAsync(Ops.Put(mine, "a", new { n = 1 }), Ops.Put(Ops.Unique(), "b", new { n = 1 }));
        var seq = (long)ack["seq"]!;
        await reader.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == seq - 1);
        // Nothing commits after it: only a pos frame (within a heartbeat, 500 ms here) can carry the cursor on.
        var pos = await reader.WaitForAsync(f => (string?)f["t"] == "pos", TimeSpan.FromSeconds(5));
        Assert.Equal(seq, (long)pos["seq"]!);
        Assert.Equal(seq, reader.Cursor);
    }

    [Fact]
    public async Task A_resumed_cursor_reaches_the_head_when_the_last_changes_caught_up_concern_other_collections()
    {
        var mine = Ops.Unique();
        var reader = await _server.ConnectAsync("pos-resumer");
        await reader.SubscribeAsync("s", mine);
        var cursor = reader.Cursor;
        var views = reader.Views;
        await reader.DisposeAsync();
        await using var writer = await _server.ConnectAsync("pos-writer-2");
        var ack = await writer.MutateAsync(Ops.Put(mine, "a", new { n = 1 }), Ops.Put(Ops.Unique(), "b", new { n = 1 }));
        var seq = (long)ack["seq"]!;

        await using var again = await _server.ConnectAsync("pos-resumer", cursor, [new { sub = "s", collection = mine }], views);
        Assert.True((bool?)again.Welcome["resumable"]);
        await again.WaitForAsync(f => (string?)f["t"] == "chg" && (long)f["seq"]! == seq - 1);
        var pos = await again.WaitForAsync(f => (string?)f["t"] == "pos", TimeSpan.FromSeconds(5));
        Assert.Equal(seq, (long)pos["seq"]!);
        Assert.Empty(again.Violations);
    }

    [Fact]
    public async Task A_write_that_changes_nothing_still_makes_a_version_and_a_change_with_an_empty_delta()
    {
        var c = Ops.Unique();
        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("s", c);
        await using var writer = await _server.ConnectAsync("noop-writer");
        await writer.MutateAsync(Ops.Put(c, "a", new { n = 1 }));
        var same = await writer.MutateAsync(Ops.Put(c, "a", new { n = 1 }));
        var sameField = await writer.MutateAsync(Ops.Patch(c, "a", new { n = 1 }));
        Assert.Equal(2, (long)same["results"]![0]!["v"]!);
        Assert.Equal(3, (long)sameField["results"]![0]!["v"]!);
        var seq = (long)sameField["seq"]!;
        await reader.WaitForSeqAsync(seq);
        var frames = reader.Stream.Where(f => (string?)f["t"] == "chg" && (long)f["seq"]! > seq - 2).Select(f => f.ToJsonString()).ToList();
        Assert.Equal(
        [
            $"{{\"t\":\"chg\",\"sub\":\"s\",\"seq\":{seq - 1},\"id\":\"a\",\"v\":2,\"set\":{{}}}}",
            $"{{\"t\":\"chg\",\"sub\":\"s\",\"seq\":{seq},\"id\":\"a\",\"v\":3,\"set\":{{}}}}",
        ], frames);
        var feed = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/changes?after={seq - 1}&collections={c}"))!;
        Assert.Equal("{}", feed["changes"]![0]!["set"]!.ToJsonString());
    }

    [Fact]
    public async Task Pipelined_writes_are_applied_in_the_order_sent_whatever_order_their_acks_arrive_in()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("pipeliner");
        const int count = 50;
        for (var i = 0; i < count; i++)
        {
            // Sent one after another without waiting for a reply, as the SDKs pipeline their queues.
            await writer.SendRawAsync(new JsonObject
            {
                ["t"] = "mut",
                ["id"] = "p" + i,
                ["mid"] = i + 1,
                ["ops"] = System.Text.Json.JsonSerializer.SerializeToNode(new[] { Ops.Put(c, "d", new { i }) }),
            }.ToJsonString());
        }
        var seqs = new Dictionary<int, long>();
        await writer.WaitForAsync(f =>
        {
            if ((string?)f["t"] == "ack")
            {
                seqs[int.Parse(((string)f["id"]!)[1..], System.Globalization.CultureInfo.InvariantCulture)] = (long)f["seq"]!;
            }
            return seqs.Count == count;
        });
        for (var i = 1; i < count; i++)
        {
            Assert.True(seqs[i] > seqs[i - 1], $"write {i} got seq {seqs[i]}, write {i - 1} seq {seqs[i - 1]}");
        }
        var doc = await _server.Http.GetAsync($"/v1/collections/{c}/docs/d");
        Assert.Equal($"\"{count}\"", doc.Headers.ETag?.ToString());
        Assert.Equal(count - 1, (int)JsonNode.Parse(await doc.Content.ReadAsStringAsync())!["i"]!);
    }

    [Fact]
    public async Task Messages_from_one_writer_get_consecutive_seqs_and_versions_never_go_backwards()
    {
        var c = Ops.Unique();
        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("s", c);
        var writers = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => _server.ConnectAsync("w" + i)));
        await Task.WhenAll(writers.Select(async (w, i) =>
        {
            for (var k = 0; k < 50; k++)
            {
                var ack = await w.MutateAsync(Ops.Patch(c, "shared", new Dictionary<string, object> { ["f" + i] = k }));
                Assert.Equal("ack", (string?)ack["t"]);
            }
        }));
        await reader.WaitForSeqAsync(_server.Engine.Head);
        Assert.Empty(reader.Violations);
        var doc = reader.Views["s"]["shared"];
        Assert.Equal(200, doc.Version);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(49, (int)doc.Doc["f" + i]!);
        }
        foreach (var w in writers)
        {
            await w.DisposeAsync();
        }
    }
}

public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_the_server_closes_connections_with_1001()
    {
        var server = await TestServer.StartAsync();
        await using var client = await server.ConnectAsync("leaving");
        await client.SubscribeAsync("s", Ops.Unique());
        var closed = client.WaitClosedAsync(TimeSpan.FromSeconds(15));
        await server.DisposeAsync();
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, await closed);
    }
}
