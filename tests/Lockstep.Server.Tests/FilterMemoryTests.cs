using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>One connection sending huge filters cannot make the server hold more than its filter budget, and nothing stays once it is gone.</summary>
[Collection(nameof(ManagedHeap))]
public sealed class FilterMemoryTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string HugeSub(string sub, string collection, int items)
    {
        var text = new StringBuilder($$"""{"t":"sub","id":"{{sub}}","sub":"{{sub}}","collection":"{{collection}}","filter":{"n":{"$in":[""");
        for (var i = 0; i < items; i++)
        {
            text.Append(i == 0 ? "" : ",").Append(i);
        }
        return text.Append("]}}}").ToString();
    }

    [Fact]
    public async Task A_connection_sending_many_huge_filters_leaves_the_managed_heap_bounded_while_open_and_where_it_was_after_it_closes()
    {
        var c = Ops.Unique();
        await using (var warmup = await _server.ConnectAsync())
        {
            await warmup.SubscribeAsync("w", c, new { n = new Dictionary<string, object> { ["$in"] = new[] { 1, 2 } } });
        }
        await WaitForNoConnectionsAsync();
        var before = ManagedHeap.Measure();
        long open;

        await using (var hostile = await _server.ConnectAsync())
        {
            // 20 frames of about 200 KB, each an $in of 35,000 items: each kept would cost the server megabytes.
            for (var i = 0; i < 20; i++)
            {
                var reply = await hostile.RequestAsync(JsonNode.Parse(HugeSub("h" + i, c, 35_000))!.AsObject());
                Assert.Equal("filter_too_large", (string?)reply["code"]);
            }
            // Filters at the limits (1,000 terms, about 60 KB each) until the connection's budget is spent.
            var accepted = 0;
            for (var i = 0; i < 8; i++)
            {
                var filter = new JsonObject { ["tag"] = new JsonObject { ["$in"] = new JsonArray([.. Enumerable.Range(0, 1000).Select(n => (JsonNode)$"{i}-{n}-{new string('x', 50)}")]) } };
                var reply = await hostile.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "m" + i, ["collection"] = c, ["filter"] = filter });
                if ((string?)reply["t"] == "snapshot")
                {
                    accepted++;
                }
                else
                {
                    Assert.Equal("too_many_subscriptions", (string?)reply["code"]);
                }
            }
            Assert.InRange(accepted, 1, 5);

            open = ManagedHeap.Measure();
            Assert.True(open - before < 12 * ManagedHeap.MiB, $"the managed heap grew by {(open - before) / ManagedHeap.MiB} MiB while the connection was open");
        }
        await WaitForNoConnectionsAsync();
        var after = ManagedHeap.Measure();
        // What stays is the server's pooled buffers (the receive buffer that grew to take the big frames, Kestrel's blocks): bounded caches.
        Assert.True(after - before < 8 * ManagedHeap.MiB, $"the managed heap kept {(after - before) / 1024} KiB after the connection closed (open: {(open - before) / 1024} KiB)");
    }

    [Fact]
    public async Task Subscriptions_sent_to_a_connection_whose_sends_are_stuck_do_not_pile_up_in_the_server()
    {
        var c = Ops.Unique();
        await using (var writer = await _server.ConnectAsync())
        {
            // 20 MB of documents: a snapshot that a reader who stops reading never takes whole.
            var payload = new string('p', 2000);
            for (var m = 0; m < 100; m++)
            {
                await writer.MutateAsync([.. Enumerable.Range(0, 100).Select(i => Ops.Put(c, "d" + (m * 100 + i), new { payload }))]);
            }
        }
        await using var hostile = await _server.ConnectAsync();
        hostile.Reading = false;
        await hostile.SendRawAsync($$"""{"t":"sub","id":"big","sub":"big","collection":"{{c}}"}""");
        await Task.Delay(500);
        var before = ManagedHeap.Measure();

        // The server's sends to this connection wait; the subscriptions it sends meanwhile (each with a
        // filter at the limits, about 60 KB) must not be queued without bound.
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 300; i++)
            {
                var filter = new JsonObject { ["tag"] = new JsonObject { ["$in"] = new JsonArray([.. Enumerable.Range(0, 1000).Select(n => (JsonNode)$"{i}-{n}-{new string('x', 50)}")]) } };
                await hostile.SendRawAsync(new JsonObject { ["t"] = "sub", ["id"] = "s" + i, ["sub"] = "s" + i, ["collection"] = c, ["filter"] = filter }.ToJsonString());
            }
        });
        await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(5)));
        var during = ManagedHeap.Measure();
        Assert.True(during - before < 12 * ManagedHeap.MiB, $"the managed heap grew by {(during - before) / ManagedHeap.MiB} MiB while subscriptions piled up");
        hostile.Abort();
        await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(5)));
    }

    private async Task WaitForNoConnectionsAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_server.Engine.Connections > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the server never let the connection go");
            await Task.Delay(50);
        }
    }
}
