using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Xunit;

namespace Lockstep.Server.Tests;

public sealed class RestTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.Collection("strict-docs", ConflictPolicy.Strict));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private HttpClient Http => _server.Http;

    private static StringContent Json(string json, string mediaType = "application/json") => new(json, Encoding.UTF8, mediaType);

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    [Fact]
    public async Task Status_reports_the_server_process_memory_and_collections()
    {
        var status = JsonNode.Parse(await Http.GetStringAsync("/v1/status"))!;
        var process = status["process"]!;
        Assert.Equal(Environment.WorkingSet, (long)process["rssBytes"]!, (double)(256L << 20)); // the test host is the server's process
        var heap = (long)process["managedHeapBytes"]!;
        Assert.InRange(heap, 1, Environment.WorkingSet * 4);
        Assert.True((long)process["managedAllocatedBytes"]! > 0);
        var collections = process["gcCollections"]!;
        Assert.InRange((int)collections["gen2"]!, 0, (int)collections["gen1"]!);
        Assert.InRange((int)collections["gen1"]!, 0, (int)collections["gen0"]!);
    }

    [Fact]
    public async Task Put_get_patch_delete_round_trip_with_etags()
    {
        var c = Ops.Unique();
        var put = await Http.PutAsync($"/v1/collections/{c}/docs/a", Json("{\"title\":\"x\",\"address\":{\"city\":\"Oslo\",\"zip\":\"1\"}}"));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal("\"1\"", put.Headers.ETag?.ToString());

        var get = await Http.GetAsync($"/v1/collections/{c}/docs/a");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("\"1\"", get.Headers.ETag?.ToString());
        Assert.Equal("x", (string?)JsonNode.Parse(await get.Content.ReadAsStringAsync())!["title"]);

        var patch = new HttpRequestMessage(HttpMethod.Patch, $"/v1/collections/{c}/docs/a")
        {
            Content = Json("{\"address\":{\"zip\":null,\"street\":\"Main\"},\"title\":\"y\"}", "application/merge-patch+json"),
        };
        patch.Headers.IfMatch.Add(new EntityTagHeaderValue("\"1\""));
        var patched = await Http.SendAsync(patch);
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal("\"2\"", patched.Headers.ETag?.ToString());
        var doc = JsonNode.Parse(await Http.GetStringAsync($"/v1/collections/{c}/docs/a"))!;
        Assert.Equal("{\"title\":\"y\",\"address\":{\"city\":\"Oslo\",\"street\":\"Main\"}}", doc.ToJsonString());

        var delete = await Http.DeleteAsync($"/v1/collections/{c}/docs/a");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        var gone = await Http.GetAsync($"/v1/collections/{c}/docs/a");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("not_found", (string?)(await ProblemAsync(gone))["code"]);
    }

    [Fact]
    public async Task A_stale_if_match_gets_412_with_the_current_document()
    {
        var c = Ops.Unique();
        await Http.PutAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":1}"));
        await Http.PutAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":2}"));
        var stale = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/{c}/docs/a") { Content = Json("{\"n\":3}") };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue("\"1\""));
        var response = await Http.SendAsync(stale);
        Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal("version_conflict", (string?)problem["code"]);
        Assert.Equal(2, (long)problem["current"]!["v"]!);
        Assert.Equal(2, (int)problem["current"]!["doc"]!["n"]!);
        Assert.Equal("\"2\"", response.Headers.ETag?.ToString());

        var create = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/{c}/docs/a") { Content = Json("{}") };
        create.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Any);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Http.SendAsync(create)).StatusCode);
    }

    [Fact]
    public async Task A_strict_collection_answers_428_without_if_match()
    {
        var id = Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.Created, (await Http.PutAsync($"/v1/collections/strict-docs/docs/{id}", Json("{\"s\":1}"))).StatusCode);
        var response = await Http.PutAsync($"/v1/collections/strict-docs/docs/{id}", Json("{\"s\":2}"));
        Assert.Equal(428, (int)response.StatusCode);
        Assert.Equal("precondition_required", (string?)(await ProblemAsync(response))["code"]);
    }

    [Theory]
    [InlineData("not json", "invalid_request", 400)]
    [InlineData("[1]", "invalid_document", 400)]
    [InlineData("{\"a.b\":1}", "invalid_document", 400)]
    public async Task Bad_bodies_get_problem_json_with_stable_codes(string body, string code, int status)
    {
        var response = await Http.PutAsync($"/v1/collections/{Ops.Unique()}/docs/a", Json(body));
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(code, (string?)(await ProblemAsync(response))["code"]);
    }

    [Theory]
    [InlineData("{\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\"}]}", "invalid_request")]
    [InlineData("{\"ops\":[{\"op\":\"put\",\"collection\":\"c\",\"id\":\"x\",\"doc\":\"text\"}]}", "invalid_document")]
    public async Task Bad_mutation_ops_get_the_same_codes_as_on_the_socket(string body, string code)
    {
        var response = await Http.PostAsync("/v1/mutations", Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal(code, (string?)problem["code"]);
        Assert.Equal(0, (int)problem["op"]!);
    }

    [Fact]
    public async Task An_oversized_body_gets_413()
    {
        var body = "{\"s\":\"" + new string('x', 2 << 20) + "\"}";
        var response = await Http.PutAsync($"/v1/collections/{Ops.Unique()}/docs/a", Json(body));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("body_too_large", (string?)(await ProblemAsync(response))["code"]);
    }

    [Fact]
    public async Task Listing_filters_and_pages_by_id()
    {
        var c = Ops.Unique();
        for (var i = 0; i < 25; i++)
        {
            await Http.PutAsync($"/v1/collections/{c}/docs/d{i:D2}", Json($"{{\"n\":{i},\"even\":{(i % 2 == 0 ? "true" : "false")}}}"));
        }
        var ids = new List<string>();
        string? after = null;
        do
        {
            var url = $"/v1/collections/{c}/docs?limit=4&filter=" + Uri.EscapeDataString("{\"even\":true,\"n\":{\"$gte\":4}}") + (after is null ? "" : "&after=" + after);
            var page = JsonNode.Parse(await Http.GetStringAsync(url))!;
            ids.AddRange(page["docs"]!.AsArray().Select(d => (string)d!["id"]!));
            after = (string?)page["next"];
        }
        while (after is not null);
        Assert.Equal(Enumerable.Range(2, 11).Select(i => $"d{i * 2:D2}"), ids);
        var bad = await Http.GetAsync($"/v1/collections/{c}/docs?filter=" + Uri.EscapeDataString("{\"n\":{\"$near\":1}}"));
        Assert.Equal("invalid_filter", (string?)(await ProblemAsync(bad))["code"]);
    }

    [Fact]
    public async Task Listings_and_snapshots_order_ids_by_code_point_and_after_is_exclusive()
    {
        var c = Ops.Unique();
        // Not by culture: "B" before "a", "é" after "z".
        string[] ids = ["\uE000", "é", "z", "b", "a", "B", "a-1"];
        foreach (var id in ids)
        {
            Assert.Equal(HttpStatusCode.Created, (await Http.PutAsync($"/v1/collections/{c}/docs/{Uri.EscapeDataString(id)}", Json("{}"))).StatusCode);
        }
        string[] expected = ["B", "a", "a-1", "b", "z", "é", "\uE000"];
        var listing = JsonNode.Parse(await Http.GetStringAsync($"/v1/collections/{c}/docs"))!;
        Assert.Equal(expected, listing["docs"]!.AsArray().Select(d => (string)d!["id"]!));
        var rest = JsonNode.Parse(await Http.GetStringAsync($"/v1/collections/{c}/docs?after={Uri.EscapeDataString("z")}"))!;
        Assert.Equal(["é", "\uE000"], rest["docs"]!.AsArray().Select(d => (string)d!["id"]!));

        await using var reader = await _server.ConnectAsync();
        await reader.SubscribeAsync("s", c);
        Assert.Equal(expected, reader.Stream[0]["docs"]!.AsArray().Select(d => (string)d!["id"]!));
    }

    [Fact]
    public async Task Lockstep_Seq_is_the_seq_of_the_change_that_wrote_the_version_read()
    {
        var c = Ops.Unique();
        var put = JsonNode.Parse(await (await Http.PutAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":1}"))).Content.ReadAsStringAsync())!;
        await Http.PutAsync($"/v1/collections/{c}/docs/b", Json("{\"n\":1}"));
        var get = await Http.GetAsync($"/v1/collections/{c}/docs/a");
        Assert.Equal((string?)put["seq"]!.ToString(), get.Headers.GetValues("Lockstep-Seq").Single());
        Assert.True(_server.Engine.Head > (long)put["seq"]!);
    }

    [Fact]
    public async Task Patch_answers_as_put_does_and_reads_its_body_as_json_whatever_the_content_type()
    {
        var c = Ops.Unique();
        var created = await Http.PatchAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":1}", "application/merge-patch+json"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("\"1\"", created.Headers.ETag?.ToString());
        var body = JsonNode.Parse(await created.Content.ReadAsStringAsync())!;
        Assert.Equal($"{{\"collection\":\"{c}\",\"id\":\"a\",\"v\":1,\"seq\":{_server.Engine.Head}}}", body.ToJsonString());
        var patched = await Http.PatchAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":null,\"m\":2}"));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(2, (long)JsonNode.Parse(await patched.Content.ReadAsStringAsync())!["v"]!);
        Assert.Equal("{\"m\":2}", await Http.GetStringAsync($"/v1/collections/{c}/docs/a"));
    }

    [Fact]
    public async Task A_wait_longer_than_MaxLongPollWait_is_cut_to_it()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxLongPollWait = TimeSpan.FromSeconds(1));
        var started = System.Diagnostics.Stopwatch.StartNew();
        var page = await server.Http.GetAsync($"/v1/changes?after={server.Engine.Head}&wait=3600");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Empty(JsonNode.Parse(await page.Content.ReadAsStringAsync())!["changes"]!.AsArray());
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(20));
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Http.GetAsync("/v1/changes?wait=-1")).StatusCode);
    }

    [Fact]
    public async Task Post_mutations_applies_a_batch_atomically_and_is_idempotent_by_client_and_mid()
    {
        var c = Ops.Unique();
        var body = new JsonObject
        {
            ["clientId"] = "rest-client",
            ["mid"] = 1,
            ["ops"] = new JsonArray(
                JsonNode.Parse($"{{\"op\":\"put\",\"collection\":\"{c}\",\"id\":\"a\",\"doc\":{{\"n\":1}}}}"),
                JsonNode.Parse($"{{\"op\":\"inc\",\"collection\":\"{c}\",\"id\":\"b\",\"path\":\"n\",\"by\":2}}")),
        };
        var first = await Http.PostAsync("/v1/mutations", Json(body.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var ack = JsonNode.Parse(await first.Content.ReadAsStringAsync())!;
        Assert.Equal(2, ack["results"]!.AsArray().Count);
        var again = JsonNode.Parse(await (await Http.PostAsync("/v1/mutations", Json(body.ToJsonString()))).Content.ReadAsStringAsync())!;
        Assert.True((bool?)again["dup"]);
        Assert.Equal((long)ack["seq"]!, (long)again["seq"]!);
        Assert.Equal(2, (int)JsonNode.Parse(await Http.GetStringAsync($"/v1/collections/{c}/docs/b"))!["n"]!);

        var failing = $"{{\"ops\":[{{\"op\":\"put\",\"collection\":\"{c}\",\"id\":\"z\",\"doc\":{{}}}},{{\"op\":\"delete\",\"collection\":\"{c}\",\"id\":\"nope\"}}]}}";
        var failed = await Http.PostAsync("/v1/mutations", Json(failing));
        Assert.Equal(HttpStatusCode.NotFound, failed.StatusCode);
        var problem = await ProblemAsync(failed);
        Assert.Equal("not_found", (string?)problem["code"]);
        Assert.Equal(1, (int)problem["op"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/v1/collections/{c}/docs/z")).StatusCode);
    }

    [Fact]
    public async Task A_replayed_refusal_is_the_original_problem_marked_dup_in_a_body_key_and_in_headers()
    {
        var c = Ops.Unique();
        var clientId = "rest-replay-" + Guid.NewGuid().ToString("N");
        var body = $"{{\"clientId\":\"{clientId}\",\"mid\":1,\"ops\":[{{\"op\":\"delete\",\"collection\":\"{c}\",\"id\":\"nope\"}}]}}";
        var first = await ProblemAsync(await Http.PostAsync("/v1/mutations", Json(body)));
        Assert.Equal("not_found", (string?)first["code"]);
        Assert.Null(first["dup"]);
        // The document exists now, so only a recorded refusal can still answer not_found.
        await Http.PutAsync($"/v1/collections/{c}/docs/nope", Json("{}"));
        var replayed = await Http.PostAsync("/v1/mutations", Json(body));
        Assert.Equal(HttpStatusCode.NotFound, replayed.StatusCode);
        var again = await ProblemAsync(replayed);
        Assert.Equal("not_found", (string?)again["code"]);
        Assert.Equal(0, (int)again["op"]!);
        Assert.True((bool?)again["dup"], again.ToJsonString());

        HttpRequestMessage Delete()
        {
            var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/collections/{c}/docs/never");
            request.Headers.Add("Lockstep-Client-Id", clientId);
            request.Headers.Add("Lockstep-Mutation-Id", "2");
            return request;
        }
        Assert.Null((await ProblemAsync(await Http.SendAsync(Delete())))["dup"]);
        await Http.PutAsync($"/v1/collections/{c}/docs/never", Json("{}"));
        var headerReplay = await Http.SendAsync(Delete());
        Assert.Equal(HttpStatusCode.NotFound, headerReplay.StatusCode);
        Assert.True((bool?)(await ProblemAsync(headerReplay))["dup"]);
    }

    [Fact]
    public async Task A_mutation_number_needs_a_client_id_in_the_body_or_the_headers()
    {
        var c = Ops.Unique();
        var ops = $"[{{\"op\":\"inc\",\"collection\":\"{c}\",\"id\":\"n\",\"path\":\"n\",\"by\":1}}]";
        async Task<HttpResponseMessage> PostAsync(string body, params (string Name, string Value)[] headers)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/mutations") { Content = Json(body) };
            foreach (var (name, value) in headers)
            {
                request.Headers.Add(name, value);
            }
            return await Http.SendAsync(request);
        }
        async Task AssertInvalidAsync(HttpResponseMessage response)
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_request", (string?)(await ProblemAsync(response))["code"]);
        }
        var client = "rest-key-" + Guid.NewGuid().ToString("N");
        await AssertInvalidAsync(await PostAsync($"{{\"mid\":1,\"ops\":{ops}}}"));
        await AssertInvalidAsync(await PostAsync($"{{\"ops\":{ops}}}", ("Lockstep-Mutation-Id", "1")));
        await AssertInvalidAsync(await PostAsync($"{{\"clientId\":\"{client}\",\"ops\":{ops}}}", ("Lockstep-Mutation-Id", "x")));
        await AssertInvalidAsync(await PostAsync($"{{\"clientId\":\"{client}\",\"mid\":1,\"ops\":{ops}}}", ("Lockstep-Client-Id", client + "-other")));
        var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/{c}/docs/p") { Content = Json("{}") };
        put.Headers.Add("Lockstep-Mutation-Id", "1");
        await AssertInvalidAsync(await Http.SendAsync(put));
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/v1/collections/{c}/docs/n")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/v1/collections/{c}/docs/p")).StatusCode);

        // The key in headers alone makes POST /v1/mutations idempotent, as it does the document writes.
        var first = await PostAsync($"{{\"ops\":{ops}}}", ("Lockstep-Client-Id", client), ("Lockstep-Mutation-Id", "1"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var again = JsonNode.Parse(await (await PostAsync($"{{\"ops\":{ops}}}", ("Lockstep-Client-Id", client), ("Lockstep-Mutation-Id", "1"))).Content.ReadAsStringAsync())!;
        Assert.True((bool?)again["dup"]);
        Assert.Equal(1, (int)JsonNode.Parse(await Http.GetStringAsync($"/v1/collections/{c}/docs/n"))!["n"]!);
    }

    [Fact]
    public async Task The_change_feed_pages_filters_by_collection_and_long_polls()
    {
        var c1 = Ops.Unique();
        var c2 = Ops.Unique();
        var start = _server.Engine.Head;
        for (var i = 0; i < 5; i++)
        {
            await Http.PutAsync($"/v1/collections/{c1}/docs/d{i}", Json("{\"n\":1}"));
            await Http.PutAsync($"/v1/collections/{c2}/docs/d{i}", Json("{\"n\":1}"));
        }
        var page = JsonNode.Parse(await Http.GetStringAsync($"/v1/changes?after={start}&collections={c1}&limit=3"))!;
        var changes = page["changes"]!.AsArray();
        Assert.Equal(3, changes.Count);
        Assert.All(changes, ch => Assert.Equal(c1, (string?)ch!["collection"]));
        Assert.Equal(1, (long)changes[0]!["version"]!);
        Assert.NotNull(changes[0]!["hlc"]);
        Assert.Equal((long)changes[2]!["seq"]!, (long)page["cursor"]!);
        var rest = JsonNode.Parse(await Http.GetStringAsync($"/v1/changes?after={page["cursor"]}&collections={c1}"))!;
        Assert.Equal(2, rest["changes"]!.AsArray().Count);
        var cursor = (long)rest["cursor"]!;
        Assert.Equal(_server.Engine.Head, cursor);

        var poll = Http.GetStringAsync($"/v1/changes?after={cursor}&wait=10");
        await Task.Delay(200);
        Assert.False(poll.IsCompleted);
        await Http.PutAsync($"/v1/collections/{c2}/docs/late", Json("{\"late\":true}"));
        var woke = JsonNode.Parse(await poll.WaitAsync(TimeSpan.FromSeconds(5)))!;
        Assert.Equal("late", (string?)woke["changes"]![0]!["id"]);
        Assert.True((bool?)woke["changes"]![0]!["doc"]!["late"]);
    }

    [Fact]
    public async Task Cluster_lists_this_node_alone_without_a_shared_store()
    {
        var cluster = JsonNode.Parse(await Http.GetStringAsync("/v1/cluster"))!;
        Assert.False((bool)cluster["clustered"]!);
        var node = Assert.Single(cluster["nodes"]!.AsArray())!;
        Assert.Equal((string?)cluster["self"], (string?)node["id"]);
        Assert.True((bool)node["healthy"]!);
        Assert.StartsWith("n-", (string?)node["id"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_and_status_answer()
    {
        var health = JsonNode.Parse(await Http.GetStringAsync("/healthz"))!;
        Assert.Equal("ok", (string?)health["status"]);
        var status = JsonNode.Parse(await Http.GetStringAsync("/v1/status"))!;
        Assert.NotNull(status["head"]);
    }

    [Fact]
    public async Task Status_lists_a_configured_collection_with_its_policy_before_its_first_write()
    {
        await using var server = await TestServer.StartAsync(o => o.Collection("approvals", ConflictPolicy.Strict));
        await server.Http.PutAsync("/v1/collections/notes/docs/a", Json("{}"));
        var collections = JsonNode.Parse(await server.Http.GetStringAsync("/v1/status"))!["collections"]!.AsArray();
        Assert.Equal("[{\"name\":\"approvals\",\"policy\":\"strict\"},{\"name\":\"notes\",\"policy\":\"lww\"}]", collections.ToJsonString());
    }

    [Fact]
    public async Task A_cursor_beyond_the_head_gets_410_as_the_socket_refuses_to_resume_it()
    {
        var c = Ops.Unique();
        await Http.PutAsync($"/v1/collections/{c}/docs/a", Json("{\"n\":1}"));
        var ahead = _server.Engine.Head + 1000;
        foreach (var url in new[] { $"/v1/changes?after={ahead}", $"/v1/changes?after={ahead}&wait=5" })
        {
            var response = await Http.GetAsync(url);
            Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
            Assert.Equal("cursor_expired", (string?)(await ProblemAsync(response))["code"]);
        }
        var atHead = JsonNode.Parse(await Http.GetStringAsync($"/v1/changes?after={_server.Engine.Head}"))!;
        Assert.Empty(atHead["changes"]!.AsArray());

        await using var socket = await _server.ConnectAsync("ahead", ahead, [new { sub = "s", collection = c }]);
        Assert.False((bool?)socket.Welcome["resumable"]);
        var snapshot = await socket.WaitForAsync(f => (string?)f["t"] == "snapshot");
        Assert.True((bool?)snapshot["reset"]);
    }

    [Fact]
    public async Task A_cursor_older_than_the_log_gets_410_and_a_socket_resume_gets_a_reset_snapshot()
    {
        await using var server = await TestServer.StartAsync(o => o.RetainedChanges = 5);
        var c = Ops.Unique();
        await using var reader = await server.ConnectAsync("r");
        await reader.SubscribeAsync("s", c);
        var cursor = reader.Cursor;
        for (var i = 0; i < 20; i++)
        {
            await server.Http.PutAsync($"/v1/collections/{c}/docs/d{i % 4}", Json($"{{\"i\":{i}}}"));
        }
        await server.Service<CompactionService>().CompactAsync(CancellationToken.None);
        Assert.True(server.Engine.Horizon > cursor);
        var expired = await server.Http.GetAsync($"/v1/changes?after={cursor}");
        Assert.Equal(HttpStatusCode.Gone, expired.StatusCode);
        Assert.Equal("cursor_expired", (string?)(await ProblemAsync(expired))["code"]);

        await using var again = await server.ConnectAsync("r", cursor, [new { sub = "s", collection = c }]);
        Assert.False((bool?)again.Welcome["resumable"]);
        var snapshot = await again.WaitForAsync(f => (string?)f["t"] == "snapshot" && (bool?)f["last"] == true);
        Assert.True((bool?)again.Stream.First(f => (string?)f["t"] == "snapshot")["reset"]);
        Assert.Equal(4, again.Views["s"].Count);
        Assert.Equal(19, again.Views["s"].Values.Max(d => (int)d.Doc["i"]!));
        _ = snapshot;
    }
}
