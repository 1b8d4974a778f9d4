using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// Authentication (API keys, JWT with each kind of key) and per-collection rules, each over the socket
/// and over REST, against a real server with authentication on and anonymous access off.
/// </summary>
public sealed class AuthTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    internal static Task<TestServer> StartAsync(Action<LockstepOptions>? more = null, Action<LockstepBuilder>? build = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-auth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return TestServer.StartAsync(o =>
        {
            AuthFixture.Configure(o, dir);
            o.Rules("todos", [AccessRule.Owner("ownerId")], [AccessRule.Owner("ownerId")]);
            o.Rules("admin", [AccessRule.Role("admin")], [AccessRule.Role("admin")]);
            o.Rules("news", [AccessRule.Public], [AccessRule.Role("editor")]);
            // A collection without rules is closed to users; notes is every signed-in user's to write.
            o.Rules("notes", null, [AccessRule.Authenticated]);
            more?.Invoke(o);
        }, build, dataDir: dir, open: false);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = AuthFixture.Request(method, path, token, body);
        return await _server.Http.SendAsync(request);
    }

    private Task<SyncClient> ConnectAsync(string? token, string? clientId = null) =>
        SyncClient.ConnectAsync(_server.SyncUrl, clientId, token: token);

    private static async Task AssertRefusedAtHelloAsync(SyncClient client, string code)
    {
        Assert.Equal("error", (string?)client.Welcome["t"]);
        Assert.Equal(code, (string?)client.Welcome["code"]);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.WaitClosedAsync());
    }

    private static void AssertError(JsonObject reply, string code)
    {
        Assert.Equal("error", (string?)reply["t"]);
        Assert.Equal(code, (string?)reply["code"]);
    }

    [Fact]
    public async Task Without_credentials_nothing_is_served_over_the_socket_or_REST()
    {
        await using var anonymous = await ConnectAsync(token: null);
        await AssertRefusedAtHelloAsync(anonymous, "unauthorized");

        foreach (var (method, path) in new[] { (HttpMethod.Get, "/v1/collections/news/docs/a"), (HttpMethod.Get, "/v1/collections/news/docs"), (HttpMethod.Get, "/v1/changes"), (HttpMethod.Get, "/v1/status") })
        {
            var response = await SendAsync(method, path, token: null);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
            Assert.Equal("unauthorized", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        }
        var put = await SendAsync(HttpMethod.Put, "/v1/collections/news/docs/a", token: null, new { title = "x" });
        Assert.Equal(HttpStatusCode.Unauthorized, put.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/news/docs/a", AuthFixture.AdminKey)).StatusCode);
        // Health checks stay open.
        Assert.Equal(HttpStatusCode.OK, (await _server.Http.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task An_API_key_authenticates_and_its_scopes_bound_what_it_may_do()
    {
        await using (var bad = await ConnectAsync(ApiKeys.Generate()))
        {
            await AssertRefusedAtHelloAsync(bad, "unauthorized");
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/v1/status", ApiKeys.Generate())).StatusCode);

        await using var admin = await ConnectAsync(AuthFixture.AdminKey);
        Assert.Equal("ack", (string?)(await admin.MutateAsync(Ops.Put("orders", "o1", new { total = 5 })))["t"]);
        Assert.Equal("ack", (string?)(await admin.MutateAsync(Ops.Put("reports", "r1", new { n = 1 })))["t"]);

        // "read" reads everything and writes nothing.
        await using var reporting = await ConnectAsync(AuthFixture.ReaderKey);
        await reporting.SubscribeAsync("o", "orders");
        Assert.Single(reporting.Views["o"]);
        AssertError(await reporting.MutateAsync(Ops.Put("orders", "o2", new { total = 1 })), "forbidden");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/reports/docs/r1", AuthFixture.ReaderKey)).StatusCode);
        var put = await SendAsync(HttpMethod.Put, "/v1/collections/orders/docs/o2", AuthFixture.ReaderKey, new { total = 1 });
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        Assert.Equal("forbidden", (string?)JsonNode.Parse(await put.Content.ReadAsStringAsync())!["code"]);

        // "read:orders", "write:orders": that collection only.
        await using var orders = await ConnectAsync(AuthFixture.OrdersKey);
        await orders.SubscribeAsync("o", "orders");
        AssertError(await orders.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "r", ["collection"] = "reports" }), "forbidden");
        Assert.Equal("ack", (string?)(await orders.MutateAsync(Ops.Put("orders", "o3", new { total = 3 })))["t"]);
        // A batch touching a collection out of scope is refused whole.
        var mixed = await orders.MutateAsync(Ops.Put("orders", "o4", new { total = 4 }), Ops.Put("reports", "r2", new { n = 2 }));
        AssertError(mixed, "forbidden");
        Assert.Equal(1, (int?)mixed["op"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/v1/collections/reports/docs", AuthFixture.OrdersKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/v1/changes?collections=reports", AuthFixture.OrdersKey)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/orders/docs/o2", AuthFixture.AdminKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/orders/docs/o4", AuthFixture.AdminKey)).StatusCode);
        // The change feed without a collection list shows only what the key may read.
        var feed = JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/changes", AuthFixture.OrdersKey)).Content.ReadAsStringAsync())!;
        Assert.All(feed["changes"]!.AsArray(), c => Assert.Equal("orders", (string?)c!["collection"]));
        Assert.Equal(2, feed["changes"]!.AsArray().Count);
    }

    [Fact]
    public async Task JWTs_signed_with_each_configured_key_are_accepted_and_every_bad_token_is_refused()
    {
        var good = new[]
        {
            AuthFixture.Jwt("u-hs"),
            AuthFixture.Jwt("u-rs", signing: AuthFixture.RsaSigning),
            AuthFixture.Jwt("u-es", signing: AuthFixture.EcSigning),
        };
        foreach (var token in good)
        {
            await using var client = await ConnectAsync(token);
            Assert.Equal("welcome", (string?)client.Welcome["t"]);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/news/docs/none", token)).StatusCode);
        }

        var header = Base64Url("""{"alg":"none","typ":"JWT"}""");
        var payload = Base64Url($$"""{"sub":"u","iss":"{{AuthFixture.Issuer}}","aud":"{{AuthFixture.Audience}}","exp":{{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}""");
        // Each refusal in our own words: the token handlers' texts name key ids and an HS256 key's
        // InternalId (a hash of the secret, which lets anyone test guesses of it offline).
        var bad = new Dictionary<string, (string Token, string Words)>
        {
            ["wrong issuer"] = (AuthFixture.Jwt("u", issuer: "https://evil.test"), "issuer is not accepted"),
            ["wrong audience"] = (AuthFixture.Jwt("u", audience: "someone-else"), "audience is not accepted"),
            ["expired"] = (AuthFixture.Jwt("u", life: TimeSpan.FromMinutes(-1)), "has expired"),
            ["not yet valid"] = (AuthFixture.Jwt("u", notBefore: DateTime.UtcNow.AddMinutes(5)), "not valid yet"),
            ["another key"] = (AuthFixture.Jwt("u", signing: AuthFixture.OtherHmac), "signature is not valid"),
            ["alg none"] = (header + "." + payload + ".", "not"),
            ["garbage"] = ("not a token", "not well-formed"),
        };
        foreach (var (why, (token, words)) in bad)
        {
            await using var client = await ConnectAsync(token);
            Assert.True((string?)client.Welcome["code"] == "unauthorized", why);
            AssertOwnWords((string?)client.Welcome["message"], words, why);
            Assert.True(await client.WaitClosedAsync() == WebSocketCloseStatus.PolicyViolation, why);
            using var response = await SendAsync(HttpMethod.Get, "/v1/collections/news/docs", token);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, why);
            AssertOwnWords((string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["detail"], words, why);
        }
    }

    private static void AssertOwnWords(string? message, string words, string why)
    {
        Assert.NotNull(message);
        Assert.True(message.Contains(words, StringComparison.Ordinal), $"{why}: {message}");
        foreach (var internals in new[] { "IDX", "InternalId", "kid", "Exception", "Microsoft." })
        {
            Assert.False(message.Contains(internals, StringComparison.Ordinal), $"{why}: {message}");
        }
    }

    [Fact]
    public async Task Role_and_public_rules_decide_reads_and_writes()
    {
        var admin = AuthFixture.Jwt("ada", roles: ["admin", "editor"]);
        var user = AuthFixture.Jwt("bob", roles: ["viewer"]);
        await using var adminClient = await ConnectAsync(admin);
        await using var userClient = await ConnectAsync(user);

        Assert.Equal("ack", (string?)(await adminClient.MutateAsync(Ops.Put("admin", "settings", new { mode = "on" })))["t"]);
        AssertError(await userClient.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "a", ["collection"] = "admin" }), "forbidden");
        AssertError(await userClient.MutateAsync(Ops.Patch("admin", "settings", new { mode = "off" })), "forbidden");
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/v1/collections/admin/docs/settings", user)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Patch, "/v1/collections/admin/docs/settings", user, new { mode = "off" })).StatusCode);
        Assert.Equal("on", (string?)JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/collections/admin/docs/settings", admin)).Content.ReadAsStringAsync())!["mode"]);

        // news: anyone reads, editors write.
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Put, "/v1/collections/news/docs/n1", admin, new { title = "hello" })).StatusCode);
        await userClient.SubscribeAsync("n", "news");
        Assert.Equal("hello", (string?)userClient.Views["n"]["n1"].Doc["title"]);
        AssertError(await userClient.MutateAsync(Ops.Patch("news", "n1", new { title = "defaced" })), "forbidden");
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Delete, "/v1/collections/news/docs/n1", user)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/news/docs/n1", user)).StatusCode);
        // Collections without rules take the default: any authenticated user.
        Assert.Equal("ack", (string?)(await userClient.MutateAsync(Ops.Put("notes", "x", new { n = 1 })))["t"]);
    }

    [Fact]
    public async Task An_owner_rule_narrows_subscriptions_to_the_callers_documents_not_even_telling_of_others_in_removed_events()
    {
        await using var alice = await ConnectAsync(AuthFixture.Jwt("alice"));
        await using var bob = await ConnectAsync(AuthFixture.Jwt("bob"));
        await using var carol = await ConnectAsync(AuthFixture.Jwt("carol"));
        await using var service = await ConnectAsync(AuthFixture.AdminKey);

        Assert.Equal("ack", (string?)(await alice.MutateAsync(Ops.Put("todos", "a1", new { ownerId = "alice", text = "milk" })))["t"]);
        Assert.Equal("ack", (string?)(await bob.MutateAsync(Ops.Put("todos", "b1", new { ownerId = "bob", text = "eggs" })))["t"]);
        // Creating a document for someone else, taking another's, or touching another's is refused, and nothing is written.
        AssertError(await alice.MutateAsync(Ops.Put("todos", "a2", new { ownerId = "bob", text = "spam" })), "forbidden");
        AssertError(await alice.MutateAsync(Ops.Patch("todos", "a1", new { ownerId = "carol" })), "forbidden");
        AssertError(await bob.MutateAsync(Ops.Patch("todos", "a1", new { text = "stolen" })), "forbidden");
        // Another's document is answered as one that does not exist (ExistenceOracleTests walks every op).
        AssertError(await bob.MutateAsync(Ops.Delete("todos", "a1")), "not_found");
        // A version check on another's document is a version_conflict without the document in it.
        var probe = await bob.MutateAsync(Ops.Patch("todos", "a1", new { text = "x" }, ifVersion: 1));
        AssertError(probe, "version_conflict");
        Assert.Null(probe["current"]);

        await alice.SubscribeAsync("t", "todos");
        await bob.SubscribeAsync("t", "todos");
        await carol.SubscribeAsync("t", "todos");
        Assert.Equal(["a1"], alice.Views["t"].Keys.Order());
        Assert.Equal(["b1"], bob.Views["t"].Keys.Order());
        Assert.Empty(carol.Views["t"]);

        // A service moves a1 from alice to bob, then deletes b1, and writes one of carol's.
        await service.MutateAsync(Ops.Patch("todos", "a1", new { ownerId = "bob" }));
        await service.MutateAsync(Ops.Delete("todos", "b1"));
        var last = await service.MutateAsync(Ops.Put("todos", "c1", new { ownerId = "carol", text = "bread" }));
        var end = (long)last["seq"]!;
        await carol.WaitForAsync(f => (long?)f["seq"] >= end);
        await alice.WaitForAsync(f => (string?)f["t"] == "removed" && (string?)f["id"] == "a1");
        await bob.WaitForAsync(f => (string?)f["t"] == "chg" && (string?)f["id"] == "b1" && (bool?)f["del"] == true);
        Assert.Empty(alice.Views["t"]);
        Assert.Equal(["a1"], bob.Views["t"].Keys.Order());
        Assert.Equal(["c1"], carol.Views["t"].Keys.Order());
        // Carol heard of her own document only: nothing about a1 or b1, not even "removed".
        Assert.DoesNotContain(carol.Stream, f => (string?)f["id"] is "a1" or "b1");
        Assert.DoesNotContain(alice.Stream, f => (string?)f["id"] is "b1" or "c1");
        Assert.Empty(alice.Violations);
        Assert.Empty(bob.Violations);
    }

    [Fact]
    public async Task A_narrowed_subscription_resuming_past_a_compacted_before_image_gets_a_fresh_snapshot_rather_than_a_guess()
    {
        await using var server = await StartAsync(o =>
        {
            o.RetainedChanges = 3;
            o.CompactionInterval = TimeSpan.FromMilliseconds(100);
        });
        Task<SyncClient> Connect(string who, long? cursor = null, Dictionary<string, Dictionary<string, (long, JsonObject)>>? views = null) =>
            SyncClient.ConnectAsync(server.SyncUrl, "dev-" + who, cursor, cursor is null ? null : [new { sub = "t", collection = "todos" }],
                views: views, token: AuthFixture.Jwt(who));
        long cursor;
        var alice = await Connect("alice");
        var carol = await Connect("carol");
        await using (var service = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey))
        {
            await alice.SubscribeAsync("t", "todos");
            await carol.SubscribeAsync("t", "todos");
            await service.MutateAsync(Ops.Put("todos", "a1", new { ownerId = "alice" }));
            for (var i = 0; i < 4; i++)
            {
                await service.MutateAsync(Ops.Put("other", "x" + i, new { i }));
            }
            cursor = (long)(await service.MutateAsync(Ops.Put("todos", "c1", new { ownerId = "carol" })))["seq"]!;
            await alice.WaitForAsync(f => (string?)f["id"] == "a1");
            await carol.WaitForAsync(f => (string?)f["id"] == "c1");
            await alice.CloseAsync();
            await carol.CloseAsync();
            // Wait until a1's only version is compacted out of the log, then delete it.
            for (var i = 0; i < 100 && server.Engine.Horizon < 2; i++)
            {
                await Task.Delay(50);
            }
            Assert.True(server.Engine.Horizon >= 2);
            await service.MutateAsync(Ops.Delete("todos", "a1"));
        }
        var aliceViews = alice.Views;
        var carolViews = carol.Views;
        await alice.DisposeAsync();
        await carol.DisposeAsync();

        await using var aliceAgain = await Connect("alice", cursor, aliceViews);
        await using var carolAgain = await Connect("carol", cursor, carolViews);
        await aliceAgain.WaitForAsync(f => (string?)f["t"] == "snapshot" && (bool?)f["reset"] == true);
        await aliceAgain.WaitForAsync(f => (string?)f["t"] == "snapshot" && (bool?)f["last"] == true);
        Assert.DoesNotContain("a1", aliceAgain.Views["t"].Keys);
        await carolAgain.WaitForAsync(f => (string?)f["t"] == "snapshot" && (bool?)f["last"] == true);
        Assert.Equal(["c1"], carolAgain.Views["t"].Keys.Order());
        Assert.DoesNotContain(carolAgain.Stream, f => (string?)f["id"] == "a1");
    }

    [Fact]
    public async Task An_owner_rule_over_REST_hides_others_documents_in_reads_listings_and_the_change_feed()
    {
        var alice = AuthFixture.Jwt("alice");
        var bob = AuthFixture.Jwt("bob");
        var start = (long)JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/status", AuthFixture.AdminKey)).Content.ReadAsStringAsync())!["head"]!;

        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Put, "/v1/collections/todos/docs/r-a1", alice, new { ownerId = "alice", text = "a" })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Put, "/v1/collections/todos/docs/r-b1", bob, new { ownerId = "bob", text = "b" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Put, "/v1/collections/todos/docs/r-b2", alice, new { ownerId = "bob" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Patch, "/v1/collections/todos/docs/r-b1", alice, new { text = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/v1/mutations", alice, new { ops = new[] { Ops.Delete("todos", "r-b1") } })).StatusCode);

        // Another's document does not exist as far as a reader can tell.
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs/r-b1", alice)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs/r-a1", alice)).StatusCode);
        var listing = JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs", alice)).Content.ReadAsStringAsync())!;
        Assert.All(listing["docs"]!.AsArray(), d => Assert.NotEqual("bob", (string?)d!["doc"]?["ownerId"] ?? (string?)d!["ownerId"]));
        Assert.Contains(listing["docs"]!.AsArray(), d => (string?)d!["id"] == "r-a1");
        Assert.DoesNotContain(listing["docs"]!.AsArray(), d => (string?)d!["id"] == "r-b1");

        // The feed: alice sees her document, then a bodiless "removed" when a service gives it to bob.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Patch, "/v1/collections/todos/docs/r-a1", AuthFixture.AdminKey, new { ownerId = "bob" })).StatusCode);
        var feed = JsonNode.Parse(await (await SendAsync(HttpMethod.Get, $"/v1/changes?after={start}&collections=todos", alice)).Content.ReadAsStringAsync())!;
        var entries = feed["changes"]!.AsArray();
        Assert.Equal(2, entries.Count);
        Assert.Equal("r-a1", (string?)entries[0]!["id"]);
        Assert.Equal("alice", (string?)entries[0]!["doc"]!["ownerId"]);
        Assert.True((bool?)entries[1]!["removed"]);
        Assert.Null(entries[1]!["doc"]);
        Assert.Null(entries[1]!["set"]);
        var bobFeed = JsonNode.Parse(await (await SendAsync(HttpMethod.Get, $"/v1/changes?after={start}&collections=todos", bob)).Content.ReadAsStringAsync())!;
        Assert.Equal(["r-b1", "r-a1"], bobFeed["changes"]!.AsArray().Select(c => (string)c!["id"]!));
    }

    [Fact]
    public async Task A_token_that_expires_mid_session_loses_access_at_expiry()
    {
        var token = AuthFixture.Jwt("dora", life: TimeSpan.FromSeconds(3));
        await using var client = await ConnectAsync(token);
        Assert.Equal("welcome", (string?)client.Welcome["t"]);
        Assert.Equal("ack", (string?)(await client.MutateAsync(Ops.Put("notes", "d1", new { n = 1 })))["t"]);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/notes/docs/d1", token)).StatusCode);

        var expired = await client.WaitForAsync(f => (string?)f["t"] == "error" && (string?)f["code"] == "token_expired", TimeSpan.FromSeconds(10));
        Assert.NotNull(expired);
        Assert.Equal((WebSocketCloseStatus)4001, await client.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/v1/collections/notes/docs/d1", token)).StatusCode);
        // A fresh token works again.
        await using var again = await ConnectAsync(AuthFixture.Jwt("dora"));
        Assert.Equal("welcome", (string?)again.Welcome["t"]);
    }

    [Fact]
    public async Task Client_ids_belong_to_their_caller_so_one_user_cannot_replay_anothers_mutation_numbers()
    {
        await using (var alice = await ConnectAsync(AuthFixture.Jwt("alice"), clientId: "shared-device"))
        {
            Assert.Equal("ack", (string?)(await alice.MutateAsync(5, Ops.Put("notes", "cid-a", new { by = "alice" })))["t"]);
        }
        await using var mallory = await ConnectAsync(AuthFixture.Jwt("mallory"), clientId: "shared-device");
        var reply = await mallory.MutateAsync(5, Ops.Put("notes", "cid-m", new { by = "mallory" }));
        Assert.Equal("ack", (string?)reply["t"]);
        Assert.Null(reply["dup"]); // a new mutation of mallory's, not alice's recorded result
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/notes/docs/cid-m", AuthFixture.AdminKey)).StatusCode);
    }

    [Fact]
    public async Task Mutators_follow_the_mutator_rule_and_see_who_calls_them()
    {
        await using var server = await StartAsync(o => o.Auth.Mutators.Add("role:clerk"), b => b.AddMutator("whoami", (ctx, _, _) =>
            ValueTask.FromResult<JsonNode?>(JsonValue.Create(ctx.UserId))));
        await using var clerk = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.Jwt("cleo", roles: ["clerk"]));
        await using var other = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.Jwt("otto"));
        await using var reader = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.ReaderKey);
        await using var admin = await SyncClient.ConnectAsync(server.SyncUrl, token: AuthFixture.AdminKey);

        Assert.Equal("cleo", (string?)(await clerk.CallAsync("whoami", new { }))["result"]);
        AssertError(await other.CallAsync("whoami", new { }), "forbidden");
        AssertError(await reader.CallAsync("whoami", new { }), "forbidden");
        Assert.Equal("key:admin", (string?)(await admin.CallAsync("whoami", new { }))["result"]);
    }

    [Fact]
    public async Task The_job_queues_are_for_API_keys_with_the_jobs_or_write_scope()
    {
        var job = new { payload = new { to = "a@example.com" } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Post, "/v1/queues/mail/jobs", null, job)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/v1/queues/mail/jobs", AuthFixture.ReaderKey, job)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/v1/queues/mail/jobs", AuthFixture.Jwt("bob"), job)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/v1/queues/mail/claim", AuthFixture.Jwt("bob"), new { max = 1 })).StatusCode);
        Assert.True((await SendAsync(HttpMethod.Post, "/v1/queues/mail/jobs", AuthFixture.AdminKey, job)).IsSuccessStatusCode);
        Assert.True((await SendAsync(HttpMethod.Get, "/v1/queues/mail", AuthFixture.AdminKey)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_consumer_group_member_id_belongs_to_its_caller_and_consuming_needs_read_access()
    {
        var claim = await SendAsync(HttpMethod.Post, "/v1/groups/billing/claim", AuthFixture.AdminKey, new { member = "m", collections = new[] { "orders" }, partitions = 2 });
        Assert.Equal(HttpStatusCode.OK, claim.StatusCode);
        var assigned = JsonNode.Parse(await claim.Content.ReadAsStringAsync())!["assigned"]!.AsArray();
        Assert.Equal(2, assigned.Count);
        var commit = new { member = "m", commits = new[] { new { partition = (int)assigned[0]!["partition"]!, epoch = (long)assigned[0]!["epoch"]!, seq = 1 } } };

        // Another key using the same member id is another member: it holds nothing, so its commit is refused.
        var foreign = await SendAsync(HttpMethod.Post, "/v1/groups/billing/commit", AuthFixture.OrdersKey, commit);
        Assert.Equal(HttpStatusCode.Conflict, foreign.StatusCode);
        Assert.Equal("lease_lost", (string?)JsonNode.Parse(await foreign.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/groups/billing/commit", AuthFixture.AdminKey, commit)).StatusCode);

        // A caller who may read only its own documents cannot consume a whole collection (nor, here, use groups at all).
        var user = await SendAsync(HttpMethod.Post, "/v1/groups/mine/claim", AuthFixture.Jwt("alice"), new { member = "a", collections = new[] { "todos" } });
        Assert.Equal(HttpStatusCode.Forbidden, user.StatusCode);
    }

    [Fact]
    public async Task Anonymous_access_when_allowed_is_judged_by_the_rules()
    {
        await using var server = await StartAsync(o => o.Auth.AllowAnonymous = true);
        await using var anonymous = await SyncClient.ConnectAsync(server.SyncUrl);
        Assert.Equal("welcome", (string?)anonymous.Welcome["t"]);
        await anonymous.SubscribeAsync("n", "news");
        AssertError(await anonymous.MutateAsync(Ops.Put("notes", "x", new { n = 1 })), "forbidden"); // default: authenticated
        AssertError(await anonymous.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = "t", ["collection"] = "todos" }), "forbidden");
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("/v1/collections/news/docs/none")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await server.Http.GetAsync("/v1/collections/notes/docs/none")).StatusCode);
    }

    [Fact]
    public async Task A_hello_resuming_a_subscription_the_caller_may_not_read_is_refused()
    {
        await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, "c", cursor: 0,
            subs: [new { sub = "a", collection = "admin" }], token: AuthFixture.Jwt("bob"));
        await AssertRefusedAtHelloAsync(client, "forbidden");
    }

    [Fact]
    public async Task The_upgrade_request_may_carry_the_credentials_instead_of_the_hello()
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + AuthFixture.AdminKey);
        await socket.ConnectAsync(_server.SyncUrl, CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"t":"hello","id":1}"""), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[4096];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("welcome", (string?)JsonNode.Parse(buffer.AsSpan(0, received.Count))!["t"]);

        using var refused = new ClientWebSocket();
        refused.Options.SetRequestHeader("Authorization", "Bearer " + ApiKeys.Generate());
        var e = await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(_server.SyncUrl, CancellationToken.None));
        Assert.Contains("401", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_collection_without_rules_is_closed_to_users_for_writing_and_API_keys_keep_their_scopes()
    {
        var c = Ops.Unique("norules");
        var alice = AuthFixture.Jwt("alice");
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Put, $"/v1/collections/{c}/docs/a", alice, new { n = 1 })).StatusCode);
        await using (var socket = await ConnectAsync(alice))
        {
            Assert.Equal("forbidden", (string?)(await socket.MutateAsync(Ops.Put(c, "a", new { n = 1 })))["code"]);
        }
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Put, $"/v1/collections/{c}/docs/a", AuthFixture.AdminKey, new { n = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"/v1/collections/{c}/docs/a", alice)).StatusCode); // reading stays authenticated
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Put, $"/v1/collections/{c}/docs/b", AuthFixture.ReaderKey, new { n = 1 })).StatusCode);

        // DefaultWrite opens them again, to whom it names.
        await using var opened = await StartAsync(o => o.Auth.DefaultWrite.Add("authenticated"));
        using var request = AuthFixture.Request(HttpMethod.Put, $"/v1/collections/{c}/docs/a", alice, new { n = 1 });
        Assert.Equal(HttpStatusCode.Created, (await opened.Http.SendAsync(request)).StatusCode);
    }

    private static string Base64Url(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
