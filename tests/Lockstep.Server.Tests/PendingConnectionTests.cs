using System.Net;
using System.Net.WebSockets;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Sockets that never say hello are held to a budget of their own and cannot take real sessions' places.</summary>
public sealed class PendingConnectionTests
{
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.1");

    [Fact]
    public async Task Sockets_without_hello_cannot_starve_real_sessions_and_are_closed_at_the_hello_timeout()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxConnections = 5;
            o.MaxPendingConnections = 12;
            o.MaxPendingConnectionsPerAddress = 6;
            o.HelloTimeout = TimeSpan.FromSeconds(2);
        });
        var idle = new List<(ClientWebSocket Socket, HttpMessageInvoker Invoker)>();
        var clients = new List<SyncClient>();
        try
        {
            await using var before = await SyncClient.ConnectFromAsync(server.SyncUrl, IPAddress.Parse("127.0.0.9"));
            var collection = Ops.Unique();
            await before.SubscribeAsync("s", collection);

            // More silent sockets from one address than MaxConnections: once the address holds its
            // pending share, its further upgrades are refused.
            var refused = 0;
            for (var i = 0; i < 20; i++)
            {
                try
                {
                    idle.Add(await SyncClient.OpenFromAsync(server.SyncUrl, Attacker));
                }
                catch (WebSocketException e)
                {
                    Assert.Contains("503", e.Message, StringComparison.Ordinal);
                    refused++;
                }
            }
            Assert.Equal(6, idle.Count);
            Assert.Equal(14, refused);
            Assert.Equal(6, server.Engine.PendingConnections);

            // Real clients from elsewhere still connect and sync.
            for (var i = 0; i < 3; i++)
            {
                clients.Add(await SyncClient.ConnectFromAsync(server.SyncUrl, IPAddress.Parse($"127.0.0.{10 + i}")));
            }
            Assert.Equal(4, server.Engine.Connections);
            var ack = await clients[0].MutateAsync(Ops.Put(collection, "d1", new { n = 1 }));
            Assert.Equal("ack", (string?)ack["t"]);
            await before.WaitForAsync(f => (string?)f["t"] == "chg" && (string?)f["id"] == "d1");

            // The server-wide pending budget holds across addresses too.
            for (var i = 0; i < 6; i++)
            {
                idle.Add(await SyncClient.OpenFromAsync(server.SyncUrl, IPAddress.Parse($"127.0.1.{i + 1}")));
            }
            var overBudget = await Assert.ThrowsAsync<WebSocketException>(() => SyncClient.OpenFromAsync(server.SyncUrl, IPAddress.Parse("127.0.2.1")));
            Assert.Contains("503", overBudget.Message, StringComparison.Ordinal);

            // At the hello timeout the silent sockets are refused and closed, and their places come back.
            var buffer = new byte[4096];
            foreach (var (socket, _) in idle)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var frame = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.Contains("hello_required", System.Text.Encoding.UTF8.GetString(buffer, 0, frame.Count), StringComparison.Ordinal);
                var close = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.Equal(WebSocketMessageType.Close, close.MessageType);
                Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
            }
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (server.Engine.PendingConnections > 0)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{server.Engine.PendingConnections} pending places were never given back");
                await Task.Delay(20);
            }
            await clients[^1].CloseAsync();
            await clients[^1].DisposeAsync();
            clients.RemoveAt(clients.Count - 1);
            deadline = DateTime.UtcNow.AddSeconds(10);
            while (server.Engine.Connections > 3)
            {
                Assert.True(DateTime.UtcNow < deadline, "a closed session was never given back");
                await Task.Delay(20);
            }
            clients.Add(await SyncClient.ConnectFromAsync(server.SyncUrl, Attacker));
            Assert.Equal("welcome", (string?)clients[^1].Welcome["t"]);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            foreach (var (socket, invoker) in idle)
            {
                socket.Dispose();
                invoker.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_hello_that_finds_the_sessions_full_is_answered_overloaded_and_closed_1013()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxConnections = 1);
        // Two upgrades while the one session's place is free; the second hello finds it taken.
        var (first, firstInvoker) = await SyncClient.OpenFromAsync(server.SyncUrl, IPAddress.Loopback);
        var (second, secondInvoker) = await SyncClient.OpenFromAsync(server.SyncUrl, IPAddress.Loopback);
        using (first)
        using (firstInvoker)
        using (second)
        using (secondInvoker)
        {
            var buffer = new byte[4096];
            await first.SendAsync("""{"t":"hello","id":1}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            var welcome = await first.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Contains("welcome", System.Text.Encoding.UTF8.GetString(buffer, 0, welcome.Count), StringComparison.Ordinal);

            await second.SendAsync("""{"t":"hello","id":2}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            var error = await second.ReceiveAsync(buffer, CancellationToken.None);
            var text = System.Text.Encoding.UTF8.GetString(buffer, 0, error.Count);
            Assert.Contains("\"code\":\"overloaded\"", text, StringComparison.Ordinal);
            Assert.Contains("\"id\":2", text, StringComparison.Ordinal);
            var close = await second.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Equal(WebSocketMessageType.Close, close.MessageType);
            Assert.Equal(1013, (int?)second.CloseStatus);
            Assert.Equal(1, server.Engine.Connections);
            Assert.Equal(0, server.Engine.PendingConnections);
        }
    }
}
