using System.Text.Json.Nodes;
using Lockstep.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Server.Tests;

/// <summary>A seeded run of the fuzz harness (tests/tools/Lockstep.Fuzz runs a million frames by hand).</summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Hostile_frames_are_each_answered_with_an_error_or_a_close_and_other_connections_are_not_disturbed()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxFrameBytes = 64 * 1024);
        var c = Ops.Unique();
        await using var bystander = await server.ConnectAsync("bystander");
        await bystander.SubscribeAsync("s", c);

        var runs = Enumerable.Range(0, 3).Select(i =>
            FuzzDriver.RunAsync(server.SyncUrl, seed: 20261123 + i, frames: 1500, TimeSpan.FromSeconds(5), maxFrameBytes: 64 * 1024, CancellationToken.None)).ToList();
        // The bystander keeps writing and reading while the fuzzing goes on.
        for (var i = 0; i < 20; i++)
        {
            var ack = await bystander.MutateAsync(Ops.Patch(c, "d", new { n = i }));
            Assert.Equal("ack", (string?)ack["t"]);
            await bystander.WaitForSeqAsync((long)ack["seq"]!);
        }
        var total = new FuzzReport();
        foreach (var report in await Task.WhenAll(runs))
        {
            total.Add(report);
        }
        output.WriteLine(total.ToString());

        Assert.Empty(total.Problems);
        Assert.Equal(total.Frames, total.Errors + total.OtherReplies + total.Closes);
        Assert.True(total.Errors > total.Frames / 3, "most hostile frames get an error frame with a code");
        Assert.Empty(bystander.Violations);
        Assert.Equal(19, (int)bystander.Views["s"]["d"].Doc["n"]!);
        var pong = await bystander.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }
}
