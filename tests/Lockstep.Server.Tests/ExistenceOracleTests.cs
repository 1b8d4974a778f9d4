using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// Under an owner rule a document the caller may not read is indistinguishable from one that does not
/// exist: every refused op on another's document (and on any tombstone) is answered byte for byte as on an
/// id never used, over REST and the socket, and listings do not tell whether others' documents follow.
/// </summary>
public sealed class ExistenceOracleTests : IAsyncLifetime
{
    private readonly string _foreign = Ops.Unique("f");
    private readonly string _missing = Ops.Unique("m");
    private readonly string _tombstone = Ops.Unique("t");
    private readonly string _alice = AuthFixture.Jwt("alice");
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await AuthTests.StartAsync();
        // Bob's document at version 2, and a tombstone at version 2 of a document that was his.
        var bob = AuthFixture.Jwt("bob");
        foreach (var (id, last) in new[] { (_foreign, HttpMethod.Put), (_tombstone, HttpMethod.Delete) })
        {
            Assert.True((await SendAsync(HttpMethod.Put, Doc(id), bob, new { ownerId = "bob", text = "private" })).IsSuccessStatusCode);
            Assert.True((await SendAsync(last, Doc(id), bob, last == HttpMethod.Put ? new { ownerId = "bob", text = "still private" } : null)).IsSuccessStatusCode);
        }
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Doc(string id) => "/v1/collections/todos/docs/" + id;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null, (string Name, string Value)? header = null)
    {
        using var request = AuthFixture.Request(method, path, token, body);
        if (header is { } h)
        {
            request.Headers.TryAddWithoutValidation(h.Name, h.Value);
        }
        return await _server.Http.SendAsync(request);
    }

    /// <summary>Status, the headers a refusal could carry, and the body, with the document's id replaced.</summary>
    private static async Task<string> AnswerAsync(HttpResponseMessage response, string id)
    {
        var text = new StringBuilder();
        text.Append((int)response.StatusCode).Append(' ').Append(response.Content.Headers.ContentType).Append(' ');
        text.Append(response.Headers.ETag).Append(' ').Append(response.Headers.Location).Append(' ');
        text.Append(await response.Content.ReadAsStringAsync());
        return text.ToString().Replace(id, "<id>", StringComparison.Ordinal);
    }

    private static string Normalize(JsonObject frame, string id)
    {
        frame.Remove("id"); // the request's own id
        return frame.ToJsonString().Replace(id, "<id>", StringComparison.Ordinal);
    }

    /// <summary>REST requests that are refused on an id never used: each must be refused alike on another's document and on a tombstone.</summary>
    private static IEnumerable<(HttpMethod Method, Func<string, string> Path, object? Body, (string, string)? Header)> RestRefusals()
    {
        yield return (HttpMethod.Delete, Doc, null, null);
        yield return (HttpMethod.Delete, Doc, null, ("If-Match", "\"1\""));
        yield return (HttpMethod.Delete, Doc, null, ("If-Match", "\"2\""));
        yield return (HttpMethod.Put, Doc, new { ownerId = "alice" }, ("If-Match", "\"1\""));
        yield return (HttpMethod.Put, Doc, new { ownerId = "alice" }, ("If-Match", "\"2\""));
        yield return (HttpMethod.Patch, Doc, new { text = "mine now" }, ("If-Match", "\"2\""));
        yield return (HttpMethod.Put, Doc, new { ownerId = "bob" }, null);
        yield return (HttpMethod.Put, Doc, new { ownerId = "bob" }, ("If-None-Match", "*"));
        yield return (HttpMethod.Patch, Doc, new { text = "x" }, null);
        yield return (HttpMethod.Get, Doc, null, null);
        yield return (HttpMethod.Get, Doc, null, ("If-None-Match", "\"2\""));
    }

    private static IEnumerable<Func<string, object[]>> SocketRefusals()
    {
        yield return id => [Ops.Delete("todos", id)];
        yield return id => [Ops.Delete("todos", id, ifVersion: 0)];
        yield return id => [Ops.Delete("todos", id, ifVersion: 1)];
        yield return id => [Ops.Delete("todos", id, ifVersion: 2)];
        yield return id => [Ops.Put("todos", id, new { ownerId = "alice" }, ifVersion: 1)];
        yield return id => [Ops.Put("todos", id, new { ownerId = "alice" }, ifVersion: 2)];
        yield return id => [Ops.Patch("todos", id, new { text = "mine now" }, ifVersion: 2)];
        yield return id => [Ops.Put("todos", id, new { ownerId = "bob" })];
        yield return id => [Ops.Patch("todos", id, new { text = "x" })];
        yield return id => [Ops.Unset("todos", id, "text")];
        yield return id => [Ops.Inc("todos", id, "n", 1)];
        yield return id => [Ops.Put("todos", "alice-own", new { ownerId = "alice" }), Ops.Delete("todos", id)];
    }

    [Fact]
    public async Task Over_REST_another_users_document_and_a_tombstone_are_refused_exactly_as_an_id_never_used()
    {
        foreach (var (method, path, body, header) in RestRefusals())
        {
            var missing = await AnswerAsync(await SendAsync(method, path(_missing), _alice, body, header), _missing);
            Assert.StartsWith("4", missing, StringComparison.Ordinal);
            foreach (var other in new[] { _foreign, _tombstone })
            {
                Assert.Equal(missing, await AnswerAsync(await SendAsync(method, path(other), _alice, body, header), other));
            }
        }
        foreach (var ops in SocketRefusals())
        {
            var missing = await AnswerAsync(await SendAsync(HttpMethod.Post, "/v1/mutations", _alice, new { ops = ops(_missing) }), _missing);
            foreach (var other in new[] { _foreign, _tombstone })
            {
                Assert.Equal(missing, await AnswerAsync(await SendAsync(HttpMethod.Post, "/v1/mutations", _alice, new { ops = ops(other) }), other));
            }
        }
        await AssertUntouchedAsync();
    }

    [Fact]
    public async Task Over_the_socket_another_users_document_and_a_tombstone_are_refused_exactly_as_an_id_never_used()
    {
        await using var alice = await SyncClient.ConnectAsync(_server.SyncUrl, "alice-device", token: _alice);
        foreach (var ops in SocketRefusals())
        {
            var missing = await alice.MutateAsync(ops(_missing));
            Assert.Equal("error", (string?)missing["t"]);
            Assert.Null(missing["current"]);
            var expected = Normalize(missing, _missing);
            foreach (var other in new[] { _foreign, _tombstone })
            {
                Assert.Equal(expected, Normalize(await alice.MutateAsync(ops(other)), other));
            }
        }
        // The same with mutation numbers: the recorded refusals replay alike too.
        var mid = 100;
        foreach (var ops in SocketRefusals())
        {
            var missing = Normalize(await alice.MutateAsync(++mid, ops(_missing)), _missing);
            Assert.Equal(missing, Normalize(await alice.MutateAsync(++mid, ops(_foreign)), _foreign));
        }
        await AssertUntouchedAsync();
    }

    [Fact]
    public async Task Creating_at_an_id_another_user_holds_is_the_one_answer_that_differs_and_it_is_forbidden()
    {
        // An id never used: created. Another's document: forbidden, as a write making a document someone
        // else's is (docs/security.md, the residual). A tombstone: created, its version continuing the count.
        var created = await SendAsync(HttpMethod.Put, Doc(_missing), _alice, new { ownerId = "alice" }, ("If-None-Match", "*"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var refused = await SendAsync(HttpMethod.Put, Doc(_foreign), _alice, new { ownerId = "alice" }, ("If-None-Match", "*"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        Assert.Equal("forbidden", (string?)problem["code"]);
        Assert.Null(problem["current"]);
        Assert.Null(refused.Headers.ETag);
        // Its answer is the one a write making a document someone else's gets: it does not say whose it is.
        var other = Ops.Unique("n");
        var forBob = await AnswerAsync(await SendAsync(HttpMethod.Put, Doc(other), _alice, new { ownerId = "bob" }, ("If-None-Match", "*")), other);
        Assert.Equal(forBob, await AnswerAsync(await SendAsync(HttpMethod.Put, Doc(_foreign), _alice, new { ownerId = "alice" }, ("If-None-Match", "*")), _foreign));

        await using var socket = await SyncClient.ConnectAsync(_server.SyncUrl, token: _alice);
        var overForeign = await socket.MutateAsync(Ops.Put("todos", _foreign, new { ownerId = "alice" }, ifVersion: 0));
        Assert.Equal("forbidden", (string?)overForeign["code"]);
        Assert.Null(overForeign["current"]);
        var overTombstone = await socket.MutateAsync(Ops.Put("todos", _tombstone, new { ownerId = "alice" }, ifVersion: 0));
        Assert.Equal("ack", (string?)overTombstone["t"]);
        Assert.Equal(3, (long)overTombstone["results"]![0]!["v"]!);
        await AssertForeignUntouchedAsync();
    }

    [Fact]
    public async Task A_listings_next_is_set_only_when_another_document_the_caller_may_see_follows()
    {
        var bob = AuthFixture.Jwt("bob");
        // Ids sort: a-1 (alice), a-2 (alice), b-… (bob's, after every one of alice's).
        foreach (var (id, owner) in new[] { ("a-1", "alice"), ("a-2", "alice"), ("b-1", "bob"), ("b-2", "bob") })
        {
            Assert.True((await SendAsync(HttpMethod.Put, Doc(id), owner == "alice" ? _alice : bob, new { ownerId = owner })).IsSuccessStatusCode);
        }
        async Task<JsonNode> ListAsync(string query) =>
            JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs?" + query, _alice)).Content.ReadAsStringAsync())!;

        var first = await ListAsync("limit=1");
        Assert.Equal(["a-1"], first["docs"]!.AsArray().Select(d => (string)d!["id"]!));
        Assert.Equal("a-1", (string?)first["next"]);
        var second = await ListAsync("limit=1&after=a-1");
        Assert.Equal(["a-2"], second["docs"]!.AsArray().Select(d => (string)d!["id"]!));
        Assert.Null(second["next"]); // bob's documents follow, and that is not alice's to know
        var whole = await ListAsync("limit=2");
        Assert.Null(whole["next"]);
        // The same for a filter: next only when another matching document follows.
        var filtered = await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs?limit=1&filter=" + Uri.EscapeDataString("""{"ownerId":"bob"}"""), AuthFixture.AdminKey);
        var page = JsonNode.Parse(await filtered.Content.ReadAsStringAsync())!;
        Assert.Equal("b-1", (string?)page["next"]);
        var last = JsonNode.Parse(await (await SendAsync(HttpMethod.Get, "/v1/collections/todos/docs?limit=1&after=b-1&filter=" + Uri.EscapeDataString("""{"ownerId":"alice"}"""), AuthFixture.AdminKey)).Content.ReadAsStringAsync())!;
        Assert.Empty(last["docs"]!.AsArray());
        Assert.Null(last["next"]);
    }

    private async Task AssertUntouchedAsync()
    {
        await AssertForeignUntouchedAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, Doc(_missing), AuthFixture.AdminKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, Doc(_tombstone), AuthFixture.AdminKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, Doc("alice-own"), AuthFixture.AdminKey)).StatusCode);
    }

    private async Task AssertForeignUntouchedAsync()
    {
        var foreign = await SendAsync(HttpMethod.Get, Doc(_foreign), AuthFixture.AdminKey);
        Assert.Equal("\"2\"", foreign.Headers.ETag?.Tag);
        Assert.Equal("still private", (string?)JsonNode.Parse(await foreign.Content.ReadAsStringAsync())!["text"]);
    }
}
