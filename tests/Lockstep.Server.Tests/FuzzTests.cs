using System.Text.Json.Nodes;
using Lockstep.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Server.Tests;

/// <summary>A seeded run of the fuzz harness, socket frames and REST requests (tests/tools/Lockstep.Fuzz runs a million frames by hand).</summary>
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
        var restRun = RestFuzzDriver.RunAsync(server.HttpUrl, seed: 20261202, requests: 400, TimeSpan.FromSeconds(10), CancellationToken.None);
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
        var rest = await restRun;
        output.WriteLine("REST: " + rest);
        foreach (var problem in total.Problems.Concat(rest.Problems).Take(40))
        {
            output.WriteLine("problem: " + problem);
        }
        Assert.Empty(rest.Problems);
        Assert.True(rest.Codes.GetValueOrDefault("invalid_request") > 0 && rest.Codes.GetValueOrDefault("invalid_document") > 0, rest.ToString());
        Assert.True(total.Codes.GetValueOrDefault("bad_frame") > 0 && total.Codes.GetValueOrDefault("filter_too_large") > 0, total.ToString());

        Assert.Empty(total.Problems);
        Assert.Equal(total.Frames, total.Errors + total.OtherReplies + total.Closes);
        Assert.True(total.Errors > total.Frames / 3, "most hostile frames get an error frame with a code");
        Assert.Empty(bystander.Violations);
        Assert.Equal(19, (int)bystander.Views["s"]["d"].Doc["n"]!);
        var pong = await bystander.RequestAsync(new JsonObject { ["t"] = "ping" });
        Assert.Equal("pong", (string?)pong["t"]);
    }

    [Fact]
    public async Task Hostile_msgpack_frames_are_each_answered_with_the_decoders_code_or_a_close_and_the_server_keeps_answering_pings()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxFrameBytes = 64 * 1024);
        var c = Ops.Unique();
        await using var bystander = await server.ConnectAsync("bystander-mp");
        await bystander.SubscribeAsync("s", c);

        var runs = Enumerable.Range(0, 2).Select(i =>
            MessagePackFuzzDriver.RunAsync(server.SyncUrl, seed: 20261202 + i, frames: 2000, TimeSpan.FromSeconds(5), maxFrameBytes: 64 * 1024, CancellationToken.None)).ToList();
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
        foreach (var problem in total.Problems.Take(40))
        {
            output.WriteLine("problem: " + problem);
        }

        Assert.Empty(total.Problems);
        Assert.Equal(total.Frames, total.Errors + total.OtherReplies + total.Closes);
        Assert.True(total.Codes.GetValueOrDefault("bad_frame") > 0 && total.Codes.GetValueOrDefault("unknown_type") > 0 && total.Codes.GetValueOrDefault("invalid_request") > 0, total.ToString());
        Assert.True(total.CloseCodes.GetValueOrDefault(1003) > 0 && total.CloseCodes.GetValueOrDefault(1009) > 0, total.ToString());
        Assert.True(total.Errors > total.Frames / 2, "most hostile frames get an error frame with a code");
        Assert.Empty(bystander.Violations);
        Assert.Equal(19, (int)bystander.Views["s"]["d"].Doc["n"]!);
    }
}
