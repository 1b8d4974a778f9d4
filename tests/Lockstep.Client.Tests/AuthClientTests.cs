using System.Text.Json.Nodes;
using Lockstep.Server;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The .NET client against a server with authentication on: tokens from its provider, refusals by the rules.</summary>
public sealed class AuthClientTests
{
    [Fact]
    public async Task The_client_reconnects_with_a_fresh_token_from_its_provider_when_one_expires_and_rules_refusals_revert_its_view()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-client-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        await using var server = await TestServer.StartAsync(o =>
        {
            AuthFixture.Configure(o, dir);
            o.Rules("todos", [AccessRule.Owner("ownerId")], [AccessRule.Owner("ownerId")]);
        }, dataDir: dir, open: false);
        var issued = 0;
        await using var client = Harness.Client(server.SyncUrl, configure: o => o.TokenProvider = _ =>
        {
            Interlocked.Increment(ref issued);
            return ValueTask.FromResult<string?>(AuthFixture.Jwt("alice", life: TimeSpan.FromSeconds(2)));
        });
        await client.StartAsync();
        var todos = client.Collection("todos");
        await using var query = todos.Subscribe();
        await query.ReadyAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await todos.PutAsync("a1", new JsonObject { ["ownerId"] = "alice", ["text"] = "one" }).WaitAsync(TimeSpan.FromSeconds(10));

        // The server closes the connection when the token expires; the client asks its provider again.
        await Harness.EventuallyAsync(() => Volatile.Read(ref issued) >= 3, TimeSpan.FromSeconds(20), "two expiries");
        await todos.PutAsync("a2", new JsonObject { ["ownerId"] = "alice", ["text"] = "two" }).WaitAsync(TimeSpan.FromSeconds(10));
        await Harness.EventuallyAsync(() => query.Documents.Count == 2);

        // A write the rules refuse faults with forbidden, and the local view goes back to the server's truth.
        var refused = await Assert.ThrowsAsync<LockstepException>(() =>
            todos.PutAsync("b1", new JsonObject { ["ownerId"] = "bob" }).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("forbidden", refused.Code);
        Assert.Null(todos.Get("b1"));
        Assert.Equal(2, query.Documents.Count);
    }
}
