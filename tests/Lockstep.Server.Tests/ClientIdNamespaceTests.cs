using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// A client id belongs to the caller that uses it, whatever characters either of them holds: no caller
/// reaches another's mutation records, connection slots or rate bucket by spelling out the other's key,
/// and the feeds do not publish other callers' client ids to find them by.
/// </summary>
public sealed class ClientIdNamespaceTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await AuthTests.StartAsync(o =>
    {
        o.Auth.AllowAnonymous = true;
        o.Rules("board", [AccessRule.Public], [AccessRule.Public]);
        o.MaxConnectionsPerClient = 2;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null, string? clientHeader = null, long? mid = null)
    {
        using var request = AuthFixture.Request(method, path, token, body);
        if (clientHeader is not null)
        {
            request.Headers.Add("Lockstep-Client-Id", clientHeader);
        }
        if (mid is not null)
        {
            request.Headers.Add("Lockstep-Mutation-Id", mid.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return await _server.Http.SendAsync(request);
    }

    private static async Task<JsonObject> BodyAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    [Fact]
    public async Task An_anonymous_caller_spelling_out_a_users_key_neither_reads_her_results_nor_preempts_her_next_mutation()
    {
        var client = Ops.Unique("ca");
        await using var alice = await SyncClient.ConnectAsync(_server.SyncUrl, client, token: AuthFixture.Jwt("alice"));
        var first = await alice.MutateAsync(1, Ops.Put("notes", Ops.Unique("n"), new { secret = "alice's" }));
        Assert.Equal("ack", (string?)first["t"]);

        foreach (var forged in new[] { "alice|" + client, "u5:alice|" + client })
        {
            // Over the socket: a new mutation of the anonymous caller's own (refused by the rules), not alice's recorded result.
            await using var anonymous = await SyncClient.ConnectAsync(_server.SyncUrl, forged);
            var replay = await anonymous.MutateAsync(1, Ops.Put("notes", "x", new { n = 1 }));
            Assert.Equal("forbidden", (string?)replay["code"]);
            Assert.Null(replay["dup"]);
            // The same over REST: the anonymous caller's own refusal just recorded (a replay, so "dup"), not alice's ack.
            var rest = await SendAsync(HttpMethod.Post, "/v1/mutations", null, new { clientId = forged, mid = 1, ops = new[] { Ops.Put("notes", "x", new { n = 1 }) } });
            Assert.Equal(HttpStatusCode.Forbidden, rest.StatusCode);
            Assert.Equal(true, (bool?)(await BodyAsync(rest))["dup"]);
            // Taking her next number first: recorded under the anonymous caller's key, not hers.
            Assert.Equal("forbidden", (string?)(await anonymous.MutateAsync(2, Ops.Put("notes", "x", new { n = 2 })))["code"]);
            var header = await SendAsync(HttpMethod.Put, "/v1/collections/notes/docs/x", null, new { n = 3 }, clientHeader: forged, mid: 3);
            Assert.Equal(HttpStatusCode.Forbidden, header.StatusCode);
        }

        foreach (var mid in new long[] { 2, 3 })
        {
            var id = Ops.Unique("n");
            var next = await alice.MutateAsync(mid, Ops.Put("notes", id, new { n = mid }));
            Assert.Equal("ack", (string?)next["t"]);
            Assert.Null(next["dup"]);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/collections/notes/docs/" + id, AuthFixture.AdminKey)).StatusCode);
        }
    }

    [Fact]
    public async Task Another_caller_cannot_take_a_users_connection_slots_or_drain_her_rate_bucket()
    {
        var client = Ops.Unique("ca");
        var forged = "alice|" + client;
        await using var one = await SyncClient.ConnectAsync(_server.SyncUrl, forged);
        await using var two = await SyncClient.ConnectAsync(_server.SyncUrl, forged);
        Assert.Equal("welcome", (string?)two.Welcome["t"]);
        await using var third = await SyncClient.ConnectAsync(_server.SyncUrl, forged);
        Assert.Equal("too_many_connections", (string?)third.Welcome["code"]); // the anonymous caller's own two slots

        await using var alice = await SyncClient.ConnectAsync(_server.SyncUrl, client, token: AuthFixture.Jwt("alice"));
        Assert.Equal("welcome", (string?)alice.Welcome["t"]);

        // The REST bucket of the header: an anonymous caller naming alice's key drains only its own.
        await using var limited = await AuthTests.StartAsync(o =>
        {
            o.Auth.AllowAnonymous = true;
            o.RateLimitPerSecond = 1;
            o.RateLimitBurst = 3;
        });
        HttpStatusCode last = default;
        for (var i = 0; i < 5; i++)
        {
            using var request = AuthFixture.Request(HttpMethod.Get, "/v1/status", null);
            request.Headers.Add("Lockstep-Client-Id", forged);
            last = (await limited.Http.SendAsync(request)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, last);
        using var hers = AuthFixture.Request(HttpMethod.Get, "/v1/status", AuthFixture.Jwt("alice"));
        hers.Headers.Add("Lockstep-Client-Id", client);
        Assert.Equal(HttpStatusCode.OK, (await limited.Http.SendAsync(hers)).StatusCode);
    }

    [Fact]
    public async Task A_token_whose_user_id_names_an_API_key_is_refused_so_it_cannot_pass_for_the_service()
    {
        await using var service = await SyncClient.ConnectAsync(_server.SyncUrl, "svc-client", token: AuthFixture.OrdersKey);
        Assert.Equal("ack", (string?)(await service.MutateAsync(1, Ops.Put("orders", Ops.Unique("o"), new { total = 1 })))["t"]);

        await using var impostor = await SyncClient.ConnectAsync(_server.SyncUrl, "svc-client", token: AuthFixture.Jwt("key:orders-service"));
        Assert.Equal("unauthorized", (string?)impostor.Welcome["code"]);
        var rest = await SendAsync(HttpMethod.Post, "/v1/mutations", AuthFixture.Jwt("key:orders-service"),
            new { clientId = "svc-client", mid = 1, ops = new[] { Ops.Put("notes", "x", new { n = 1 }) } });
        Assert.Equal(HttpStatusCode.Unauthorized, rest.StatusCode);
    }

    [Fact]
    public async Task The_change_feed_and_group_events_name_the_client_only_to_the_caller_that_wrote_it_and_webhooks_never()
    {
        await using var receiver = await WebhookReceiver.StartAsync("secret of the hook");
        await using var server = await AuthTests.StartAsync(o =>
        {
            var hook = new WebhookOptions { Url = receiver.Url, Secret = "secret of the hook" };
            hook.Collections.Add("notes");
            o.Webhooks["notes-hook"] = hook;
        });
        var client = Ops.Unique("ca");
        await using var alice = await SyncClient.ConnectAsync(server.SyncUrl, client, token: AuthFixture.Jwt("alice"));
        var id = Ops.Unique("n");
        var seq = (long)(await alice.MutateAsync(7, Ops.Put("notes", id, new { n = 1 })))["seq"]!;

        async Task<JsonObject> FeedEntryAsync(string token)
        {
            using var request = AuthFixture.Request(HttpMethod.Get, $"/v1/changes?after={seq - 1}&collections=notes", token);
            var feed = JsonNode.Parse(await (await server.Http.SendAsync(request)).Content.ReadAsStringAsync())!;
            return feed["changes"]!.AsArray().Single(c => (long)c!["seq"]! == seq)!.AsObject();
        }

        var own = await FeedEntryAsync(AuthFixture.Jwt("alice"));
        Assert.Equal(client, (string?)own["clientId"]);
        Assert.Equal(7, (long?)own["mid"]);
        foreach (var other in new[] { AuthFixture.Jwt("bob"), AuthFixture.AdminKey })
        {
            var entry = await FeedEntryAsync(other);
            Assert.Equal(id, (string?)entry["id"]);
            Assert.Null(entry["clientId"]);
            Assert.Null(entry["mid"]);
        }

        // A consumer group's events: the admin key reads the change, not who wrote it.
        using (var claim = AuthFixture.Request(HttpMethod.Post, "/v1/groups/cid-readers/claim", AuthFixture.AdminKey, new { member = "m", collections = new[] { "notes" }, partitions = 1 }))
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(claim)).StatusCode);
        }
        using (var changes = AuthFixture.Request(HttpMethod.Get, $"/v1/groups/cid-readers/changes?member=m&from=0:{seq - 1}", AuthFixture.AdminKey))
        {
            var batch = JsonNode.Parse(await (await server.Http.SendAsync(changes)).Content.ReadAsStringAsync())!;
            var entry = batch["events"]!.AsArray().Single(e => (long)e!["seq"]! == seq)!;
            Assert.Null(entry["clientId"]);
            Assert.Null(entry["mid"]);
        }

        // Webhooks go to a URL, not to a caller: no client ids.
        await alice.MutateAsync(8, Ops.Put("notes", Ops.Unique("n"), new { n = 2 }));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (receiver.Delivered.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no webhook delivery");
            await Task.Delay(20);
        }
        Assert.All(receiver.Delivered, e =>
        {
            Assert.Null(e["clientId"]);
            Assert.Null(e["mid"]);
        });
    }

    [Fact]
    public async Task A_socket_change_frame_carries_the_mid_only_on_the_connections_own_client_id()
    {
        var client = Ops.Unique("ca");
        await using var alice = await SyncClient.ConnectAsync(_server.SyncUrl, client, token: AuthFixture.Jwt("alice"));
        await alice.SubscribeAsync("b", "board");
        await using var anonymous = await SyncClient.ConnectAsync(_server.SyncUrl, "alice|" + client);
        await anonymous.SubscribeAsync("b", "board");
        var id = Ops.Unique("p");
        var seq = (long)(await alice.MutateAsync(3, Ops.Put("board", id, new { text = "hi" })))["seq"]!;
        var mine = await alice.WaitForAsync(f => (string?)f["t"] == "chg" && (long?)f["seq"] == seq);
        Assert.Equal(3, (long?)mine["mid"]);
        var theirs = await anonymous.WaitForAsync(f => (string?)f["t"] == "chg" && (long?)f["seq"] == seq);
        Assert.Null(theirs["mid"]);
        Assert.Null(theirs["clientId"]);
    }

    [Fact]
    public async Task Anonymous_REST_feed_readers_do_not_see_a_users_client_id()
    {
        var client = Ops.Unique("ca");
        await using var alice = await SyncClient.ConnectAsync(_server.SyncUrl, client, token: AuthFixture.Jwt("alice"));
        var seq = (long)(await alice.MutateAsync(1, Ops.Put("board", Ops.Unique("p"), new { text = "hi" })))["seq"]!;
        var feed = await BodyAsync(await SendAsync(HttpMethod.Get, $"/v1/changes?after={seq - 1}&collections=board", null));
        var entry = feed["changes"]!.AsArray().Single(c => (long)c!["seq"]! == seq)!;
        Assert.Null(entry["clientId"]);
        Assert.Null(entry["mid"]);
        // An anonymous writer's own client id stays visible to anonymous readers: they are one caller.
        var anonymousId = Ops.Unique("anon");
        var post = await _server.Http.PostAsJsonAsync("/v1/mutations", new { clientId = anonymousId, mid = 4, ops = new[] { Ops.Put("board", Ops.Unique("p"), new { text = "x" }) } });
        var anonymousSeq = (long)(await BodyAsync(post))["seq"]!;
        var again = await BodyAsync(await SendAsync(HttpMethod.Get, $"/v1/changes?after={anonymousSeq - 1}&collections=board", null));
        Assert.Equal(anonymousId, (string?)again["changes"]!.AsArray().Single(c => (long)c!["seq"]! == anonymousSeq)!["clientId"]);
    }

    /// <summary>Freezes the persisted client keys (docs/dev/storage-format.md, "Client keys").</summary>
    [Fact]
    public async Task Client_keys_are_stored_in_the_documented_form()
    {
        var cid = Ops.Unique("c");
        var start = _server.Engine.Head;
        await using (var user = await SyncClient.ConnectAsync(_server.SyncUrl, cid, token: AuthFixture.Jwt("zoë|x")))
        {
            Assert.Equal("ack", (string?)(await user.MutateAsync(1, Ops.Put("board", Ops.Unique("p"), new { n = 1 })))["t"]);
        }
        await using (var service = await SyncClient.ConnectAsync(_server.SyncUrl, cid, token: AuthFixture.OrdersKey))
        {
            Assert.Equal("ack", (string?)(await service.MutateAsync(1, Ops.Put("orders", Ops.Unique("o"), new { n = 1 })))["t"]);
        }
        await using (var anonymous = await SyncClient.ConnectAsync(_server.SyncUrl, cid))
        {
            Assert.Equal("ack", (string?)(await anonymous.MutateAsync(1, Ops.Put("board", Ops.Unique("p"), new { n = 1 })))["t"]);
        }
        await using var reader = await _server.Store.BeginReadAsync(CancellationToken.None);
        var keys = (await reader.ReadChangesAsync(start, ["board", "orders"], 100, CancellationToken.None))
            .Where(c => c.ClientId?.EndsWith("|" + cid, StringComparison.Ordinal) == true).Select(c => c.ClientId).ToList();
        Assert.Equal(["u5:zoë|x|" + cid, "k14:orders-service|" + cid, "a|" + cid], keys);
    }

    [Fact]
    public async Task A_client_id_is_held_to_one_rule_on_every_path_and_a_REST_key_that_breaks_it_is_refused_not_ignored()
    {
        var token = AuthFixture.Jwt("alice");
        var body = await SendAsync(HttpMethod.Post, "/v1/mutations", token, new { clientId = "bad\u0001id", mid = 1, ops = new[] { Ops.Put("notes", "v1", new { n = 1 }) } });
        Assert.Equal(HttpStatusCode.BadRequest, body.StatusCode);
        Assert.Equal("invalid_request", (string?)(await BodyAsync(body))["code"]);

        // A mutation id whose client id is not one would otherwise be dropped, and a retry applied twice.
        var header = await SendAsync(HttpMethod.Put, "/v1/collections/notes/docs/v2", token, new { n = 1 }, clientHeader: new string('x', 129), mid: 1);
        Assert.Equal(HttpStatusCode.BadRequest, header.StatusCode);
        Assert.Equal("invalid_request", (string?)(await BodyAsync(header))["code"]);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Put, "/v1/collections/notes/docs/v2", token, new { n = 1 }, mid: 1)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v1/collections/notes/docs/v2", token)).StatusCode);

        var member = await SendAsync(HttpMethod.Post, "/v1/groups/g/claim", AuthFixture.AdminKey, new { member = "m\u0007", collections = new[] { "notes" } });
        Assert.Equal(HttpStatusCode.BadRequest, member.StatusCode);
    }
}
