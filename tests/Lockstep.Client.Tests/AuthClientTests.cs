using System.Text.Json.Nodes;
using Lockstep.Server;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The .NET client against a server with authentication on: tokens from its provider, refusals by the rules.</summary>
public sealed class AuthClientTests
{
    /// <summary>A server with the test credentials (AuthFixture) and no anonymous access, unless <paramref name="configure"/> says otherwise.</summary>
    private static Task<TestServer> StartAsync(Action<LockstepOptions> configure)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-client-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return TestServer.StartAsync(o =>
        {
            AuthFixture.Configure(o, dir);
            configure(o);
        }, dataDir: dir, open: false);
    }

    [Fact]
    public async Task The_client_reconnects_with_a_fresh_token_from_its_provider_when_one_expires_and_rules_refusals_revert_its_view()
    {
        await using var server = await StartAsync(o => o.Rules("todos", [AccessRule.Owner("ownerId")], [AccessRule.Owner("ownerId")]));
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

    [Fact]
    public async Task A_reader_of_the_groups_collections_cannot_hijack_a_services_group_and_the_service_receives_every_change()
    {
        await using var server = await StartAsync(o =>
        {
            o.Auth.AllowAnonymous = true;
            o.Rules("posts", [AccessRule.Public], [AccessRule.Authenticated]);
        });
        var received = new System.Collections.Concurrent.ConcurrentDictionary<long, ConsumedChange>();
        LockstepConsumer Service() => new([server.HttpUrl], "feed", ["posts"], (change, _) =>
        {
            received[change.Seq] = change;
            return ValueTask.CompletedTask;
        }, new ConsumerOptions { Member = "svc", Partitions = 4, Lease = TimeSpan.FromSeconds(2), CommitInterval = TimeSpan.FromMilliseconds(100) },
            _ => ValueTask.FromResult<string?>(AuthFixture.AdminKey));

        await using (var first = Service())
        {
            await first.StartAsync(default);
            await first.Joined.WaitAsync(TimeSpan.FromSeconds(10));
        } // stopped: it committed and left, so its partitions are free

        // A browser user (the collection is public) and an anonymous caller each try to take the group over:
        // claim its partitions for long, move their checkpoints far past the head, and leave.
        var answers = new List<System.Net.HttpStatusCode>();
        foreach (var token in new[] { AuthFixture.Jwt("mallory"), null })
        {
            using var http = new HttpClient { BaseAddress = server.HttpUrl };
            async Task<HttpResponseMessage> PostAsync(string action, object body)
            {
                using var request = AuthFixture.Request(HttpMethod.Post, $"/v1/groups/feed/{action}", token, body);
                var response = await http.SendAsync(request);
                answers.Add(response.StatusCode);
                return response;
            }
            var claim = await PostAsync("claim", new { member = "svc", collections = new[] { "posts" }, leaseMs = 600_000 });
            var assigned = claim.IsSuccessStatusCode ? JsonNode.Parse(await claim.Content.ReadAsStringAsync())!["assigned"]!.AsArray() : [];
            var commits = assigned.Select(a => new { partition = (int)a!["partition"]!, epoch = (long)a["epoch"]!, seq = 9_000_000_000_000_000_000L }).ToArray();
            await PostAsync("commit", new { member = "svc", commits });
            await PostAsync("leave", new { member = "svc" });
            using var read = AuthFixture.Request(HttpMethod.Get, "/v1/groups/feed/changes?member=svc", token);
            answers.Add((await http.SendAsync(read)).StatusCode);
        }

        using var writer = new HttpClient { BaseAddress = server.HttpUrl };
        var seqs = new List<long>();
        for (var i = 0; i < 40; i++)
        {
            using var put = AuthFixture.Request(HttpMethod.Put, $"/v1/collections/posts/docs/p{i}", AuthFixture.Jwt("alice"), new { n = i });
            var response = await writer.SendAsync(put);
            response.EnsureSuccessStatusCode();
            seqs.Add((long)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["seq"]!);
        }
        await using var again = Service();
        await again.StartAsync(default);
        await Harness.EventuallyAsync(() => seqs.All(received.ContainsKey), TimeSpan.FromSeconds(20), $"all 40 posts ({seqs.Count(received.ContainsKey)} received)");
        Assert.All(answers, a => Assert.Equal(System.Net.HttpStatusCode.Forbidden, a));
    }
}
