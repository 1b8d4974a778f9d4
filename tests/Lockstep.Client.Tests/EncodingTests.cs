using System.Net.WebSockets;
using Lockstep.Server.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The client's choice of encoding (docs/protocol.md §11): offered as a subprotocol, and held to.</summary>
public sealed class EncodingTests
{
    [Fact]
    public async Task A_MessagePack_client_refuses_a_server_that_answers_no_subprotocol_and_sends_it_nothing()
    {
        // A server of before §11: it accepts the upgrade without a subprotocol, which means JSON.
        var messages = 0;
        var upgrades = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.UseWebSockets();
        app.Map("/v1/sync", async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            Interlocked.Increment(ref upgrades);
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }
                    Interlocked.Increment(ref messages);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        });
        await app.StartAsync();
        var url = new Uri(app.Urls.First().Replace("http://", "ws://", StringComparison.Ordinal) + "/v1/sync");

        var log = new CapturedLog();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(log));
        await using (var client = Harness.Client(url, LockstepEncoding.MessagePack, configure: o => o.LoggerFactory = loggerFactory))
        {
            client.Start();
            await Harness.EventuallyAsync(() => Volatile.Read(ref upgrades) >= 2 && log.Entries.Any(e => e.Message.Contains("did not agree to the lockstep.v1.msgpack encoding", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "the refusal is logged at each attempt");
            Assert.NotEqual(ConnectionState.Online, client.State);
        }
        Assert.Equal(0, Volatile.Read(ref messages));
        await app.StopAsync();
    }

    [Fact]
    public void An_encoding_that_is_not_one_is_refused_when_the_client_is_built()
    {
        var builder = new LockstepClientBuilder().WithUrl(new Uri("ws://127.0.0.1:1/v1/sync")).WithoutLocalStore().WithEncoding((LockstepEncoding)7);
        Assert.Throws<ArgumentException>(() => builder.Build());
    }
}
