using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// Consumer groups need a grant made for them — an API key's <c>groups</c> scope or an <c>Auth:Groups</c>
/// rule — not read access to their collections; commits are fenced and never move a checkpoint past the head.
/// </summary>
public sealed class GroupAccessTests : IAsyncLifetime
{
    private static readonly string GroupsKey = ApiKeys.Generate();
    private static readonly string BillingKey = ApiKeys.Generate();
    private static readonly string ProjectionKey = ApiKeys.Generate();
    private static readonly string WriterKey = ApiKeys.Generate();

    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await AuthTests.StartAsync(o =>
    {
        o.Auth.AllowAnonymous = true;
        o.Auth.ApiKeys.Add(AuthFixture.Key("all-groups", GroupsKey, "read", "groups"));
        o.Auth.ApiKeys.Add(AuthFixture.Key("billing", BillingKey, "read", "groups:billing"));
        o.Auth.ApiKeys.Add(AuthFixture.Key("projector", ProjectionKey, "read", "groups:projection.users.*"));
        o.Auth.ApiKeys.Add(AuthFixture.Key("writer", WriterKey, "read", "write"));
        o.Auth.Groups.Add("role:ops");
        o.Rules("posts", [AccessRule.Public], [AccessRule.Authenticated]);
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = AuthFixture.Request(method, path, token, body);
        return await _server.Http.SendAsync(request);
    }

    private static async Task<JsonObject> BodyAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    /// <summary>The four group requests, each answered with its status.</summary>
    private async Task<HttpStatusCode[]> UseAsync(string group, string? token)
    {
        var claim = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/claim", token, new { member = "m", collections = new[] { "posts" }, partitions = 2 });
        var changes = await SendAsync(HttpMethod.Get, $"/v1/groups/{group}/changes?member=m", token);
        var commit = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/commit", token, new { member = "m", commits = Array.Empty<object>() });
        var leave = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/leave", token, new { member = "m" });
        return [claim.StatusCode, changes.StatusCode, commit.StatusCode, leave.StatusCode];
    }

    [Fact]
    public async Task Reading_a_groups_collections_is_not_enough_to_join_read_commit_or_leave_it()
    {
        HttpStatusCode[] refused = [HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden];
        // A browser user and an anonymous caller may read "posts"; "read" and "write" keys read everything.
        Assert.Equal(refused, await UseAsync("billing", AuthFixture.Jwt("mallory")));
        Assert.Equal(refused, await UseAsync("billing", null));
        Assert.Equal(refused, await UseAsync("billing", AuthFixture.ReaderKey));
        Assert.Equal(refused, await UseAsync("billing", WriterKey));
        var problem = await BodyAsync(await SendAsync(HttpMethod.Post, "/v1/groups/billing/claim", AuthFixture.ReaderKey, new { member = "m", collections = new[] { "posts" } }));
        Assert.Equal("forbidden", (string?)problem["code"]);
        // Refused before anything else is looked at: not even whether the group exists.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/v1/groups/no-such-group/changes?member=m", AuthFixture.ReaderKey)).StatusCode);
    }

    [Fact]
    public async Task The_groups_scopes_and_the_groups_rule_grant_the_groups_they_name()
    {
        HttpStatusCode[] served = [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK];
        HttpStatusCode[] refused = [HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden];
        Assert.Equal(served, await UseAsync("billing", AuthFixture.AdminKey));
        Assert.Equal(served, await UseAsync("billing", BillingKey));
        Assert.Equal(served, await UseAsync("anything", GroupsKey));
        Assert.Equal(refused, await UseAsync("billing-2", BillingKey));
        Assert.Equal(served, await UseAsync("projection.users.7", ProjectionKey));
        Assert.Equal(refused, await UseAsync("projection.orders.1", ProjectionKey));
        Assert.Equal(served, await UseAsync("ops-view", AuthFixture.Jwt("olga", roles: ["ops"])));
        // The grant is not read access: a group's collections must still be readable whole.
        var todos = await SendAsync(HttpMethod.Post, "/v1/groups/mine/claim", AuthFixture.Jwt("olga", roles: ["ops"]), new { member = "m", collections = new[] { "todos" } });
        Assert.Equal(HttpStatusCode.Forbidden, todos.StatusCode);
    }

    [Fact]
    public async Task A_commit_past_the_head_or_outside_the_members_lease_is_refused_and_the_checkpoint_stays()
    {
        var group = Ops.Unique("g");
        var claim = await BodyAsync(await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/claim", GroupsKey, new { member = "m", collections = new[] { "posts" }, partitions = 2 }));
        var assigned = claim["assigned"]!.AsArray();
        var partition = (int)assigned[0]!["partition"]!;
        var epoch = (long)assigned[0]!["epoch"]!;
        var head = (long)(await BodyAsync(await SendAsync(HttpMethod.Get, "/v1/status", AuthFixture.AdminKey)))["head"]!;

        var ahead = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/commit", GroupsKey,
            new { member = "m", commits = new[] { new { partition, epoch, seq = 9_000_000_000_000_000_000L } } });
        Assert.Equal(HttpStatusCode.BadRequest, ahead.StatusCode);
        var problem = await BodyAsync(ahead);
        Assert.Equal("invalid_request", (string?)problem["code"]);
        Assert.Equal(partition, (int?)problem["op"]);

        // Another epoch, another member's id, a partition the group does not have: lease_lost.
        foreach (var commit in new object[]
        {
            new { member = "m", commits = new[] { new { partition, epoch = epoch + 1, seq = head } } },
            new { member = "other", commits = new[] { new { partition, epoch, seq = head } } },
            new { member = "m", commits = new[] { new { partition = 5, epoch, seq = head } } },
        })
        {
            var refused = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/commit", GroupsKey, commit);
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("lease_lost", (string?)(await BodyAsync(refused))["code"]);
        }

        // A position asked for past the head reads as the head, so the positions returned are never past it.
        var read = await BodyAsync(await SendAsync(HttpMethod.Get, $"/v1/groups/{group}/changes?member=m&from={partition}:9000000000000000000", GroupsKey));
        Assert.InRange((long)read["positions"]![partition.ToString(System.Globalization.CultureInfo.InvariantCulture)]!, 0, (long)read["head"]!);

        var again = await BodyAsync(await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/claim", GroupsKey, new { member = "m", collections = new[] { "posts" } }));
        Assert.All(again["assigned"]!.AsArray(), a => Assert.Equal(0, (long)a!["checkpoint"]!));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/commit", GroupsKey,
            new { member = "m", commits = new[] { new { partition, epoch, seq = head } } })).StatusCode);
    }

    [Fact]
    public async Task A_commit_whose_partition_epoch_or_seq_is_not_an_integer_is_invalid_request()
    {
        var group = Ops.Unique("g");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/claim", GroupsKey, new { member = "m", collections = new[] { "posts" } })).StatusCode);
        foreach (var commit in new object[]
        {
            new { partition = "0", epoch = 1, seq = 1 },
            new { partition = 0, epoch = (object)true, seq = 1 },
            new { partition = 0, epoch = 1, seq = (object)1.5 },
        })
        {
            var refused = await SendAsync(HttpMethod.Post, $"/v1/groups/{group}/commit", GroupsKey, new { member = "m", commits = new[] { commit } });
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("invalid_request", (string?)(await BodyAsync(refused))["code"]);
        }
    }

    [Fact]
    public async Task A_lease_longer_than_ten_minutes_is_refused()
    {
        var claim = await SendAsync(HttpMethod.Post, "/v1/groups/billing/claim", BillingKey, new { member = "m", collections = new[] { "posts" }, leaseMs = 600_001 });
        Assert.Equal(HttpStatusCode.BadRequest, claim.StatusCode);
        Assert.Equal("invalid_request", (string?)(await BodyAsync(claim))["code"]);
    }

    [Fact]
    public async Task A_claim_naming_more_than_a_hundred_collections_is_refused_and_stores_nothing()
    {
        var names = Enumerable.Range(0, 101).Select(i => "c" + i).ToArray();
        var claim = await SendAsync(HttpMethod.Post, "/v1/groups/wide/claim", GroupsKey, new { member = "m", collections = names });
        Assert.Equal(HttpStatusCode.BadRequest, claim.StatusCode);
        Assert.Equal("invalid_request", (string?)(await BodyAsync(claim))["code"]);
        var fits = await SendAsync(HttpMethod.Post, "/v1/groups/wide/claim", GroupsKey, new { member = "m", collections = names[..100] });
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(100, (await BodyAsync(fits))["collections"]!.AsArray().Count);
    }
}
