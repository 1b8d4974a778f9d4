using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// Each node's sequencer keeps its document and mutation-number caches across other nodes' commits by
/// reading what they changed under the log lock: a write on one node must see the other node's writes
/// before it, exactly as if the cache were empty.
/// </summary>
public sealed class WriterCacheClusterTests
{
    [Fact]
    public async Task A_node_writing_a_document_after_another_node_changed_it_sees_that_version_in_a_strict_collection()
    {
        var collection = "s" + Guid.NewGuid().ToString("N")[..8];
        await using var cluster = await Cluster.StartAsync(2, "--strict", collection);
        using var a = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        using var b = new HttpClient { BaseAddress = cluster.Node(1).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };

        // Node a creates the document (and caches it at version 1); node b moves it on twice.
        Assert.Equal(1, await VersionAsync(await PatchAsync(a, collection, "d", 1, ifVersion: 0)));
        Assert.Equal(2, await VersionAsync(await PatchAsync(b, collection, "d", 2, ifVersion: 1)));
        Assert.Equal(3, await VersionAsync(await PatchAsync(b, collection, "d", 3, ifVersion: 2)));

        // Node a must judge its next writes against version 3, not the version 1 it wrote itself.
        using (var stale = await PatchAsync(a, collection, "d", 4, ifVersion: 1))
        {
            Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
            var problem = (await stale.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("version_conflict", (string)problem["code"]!);
        }
        Assert.Equal(4, await VersionAsync(await PatchAsync(a, collection, "d", 4, ifVersion: 3)));
        // And back on b, which last saw its own version 3.
        Assert.Equal(5, await VersionAsync(await PatchAsync(b, collection, "d", 5, ifVersion: 4)));

        var doc = await Cluster.GetJsonAsync(cluster.Node(0), $"/v1/collections/{collection}/docs/d");
        Assert.Equal(5, (int)doc["n"]!);
    }

    [Fact]
    public async Task Increments_alternating_between_nodes_on_one_document_are_each_applied_on_the_latest_version()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var collection = "i" + Guid.NewGuid().ToString("N")[..8];
        using var a = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        using var b = new HttpClient { BaseAddress = cluster.Node(1).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < 20; i++)
        {
            using var response = await http(i).PostAsJsonAsync("/v1/mutations", new JsonObject
            {
                ["ops"] = new JsonArray(new JsonObject { ["op"] = "inc", ["collection"] = collection, ["id"] = "d", ["path"] = "n", ["by"] = 1 }),
            });
            response.EnsureSuccessStatusCode();
            Assert.Equal(i + 1, await VersionAsync(response));
        }
        var doc = await Cluster.GetJsonAsync(cluster.Node(1), $"/v1/collections/{collection}/docs/d");
        Assert.Equal(20, (int)doc["n"]!);

        HttpClient http(int i) => i % 2 == 0 ? a : b;
    }

    [Fact]
    public async Task A_numbered_write_recorded_by_another_node_is_replayed_not_applied_again_when_retried_on_the_first()
    {
        await using var cluster = await Cluster.StartAsync(2);
        var collection = "m" + Guid.NewGuid().ToString("N")[..8];
        using var a = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        using var b = new HttpClient { BaseAddress = cluster.Node(1).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };

        // Node a learns that mutation 1 is this client's last; the client moves to node b for 2 and 3
        // (3 refused: a record that does not move the head), then retries both on node a.
        Assert.Equal(1, await VersionAsync(await IncAsync(a, collection, mid: 1)));
        Assert.Equal(2, await VersionAsync(await IncAsync(b, collection, mid: 2)));
        using (var refused = await IncAsync(b, collection, mid: 3, ifVersion: 7))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        }
        Assert.Equal(2, await VersionAsync(await IncAsync(a, collection, mid: 2)));
        using (var replayed = await IncAsync(a, collection, mid: 3, ifVersion: 2))
        {
            // The original refusal, not a fresh write that would now succeed.
            Assert.Equal(HttpStatusCode.Conflict, replayed.StatusCode);
        }
        var doc = await Cluster.GetJsonAsync(cluster.Node(0), $"/v1/collections/{collection}/docs/d");
        Assert.Equal(2, (int)doc["n"]!);
        Assert.Equal(3, await VersionAsync(await IncAsync(a, collection, mid: 4)));
    }

    [Fact]
    public async Task A_node_whose_last_head_was_compacted_away_reads_documents_again_and_sees_the_other_nodes_version()
    {
        var options = new Dictionary<string, string>
        {
            ["Lockstep__RetainedChanges"] = "5",
            ["Lockstep__CompactionInterval"] = "00:00:00.200",
        };
        await using var cluster = await Cluster.StartAsync(2, options);
        var collection = "h" + Guid.NewGuid().ToString("N")[..8];
        using var a = new HttpClient { BaseAddress = cluster.Node(0).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        using var b = new HttpClient { BaseAddress = cluster.Node(1).HttpUrl, Timeout = TimeSpan.FromSeconds(10) };

        Assert.Equal(1, await VersionAsync(await PatchAsync(a, collection, "d", 1, ifVersion: 0)));
        for (var v = 1; v <= 20; v++)
        {
            Assert.Equal(v + 1, await VersionAsync(await PatchAsync(b, collection, "d", v + 1, ifVersion: v)));
        }
        // Compaction (on whichever node holds the lease) passes node a's last commit: a cannot be told
        // what changed since, so it must forget what it cached rather than trust it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((long)(await Cluster.GetJsonAsync(cluster.Node(0), "/healthz"))["horizon"]! < 10)
        {
            Assert.True(DateTime.UtcNow < deadline, "the log is compacted past node a's last commit");
            await Task.Delay(50);
        }
        using (var stale = await PatchAsync(a, collection, "d", 0, ifVersion: 1))
        {
            Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        }
        Assert.Equal(22, await VersionAsync(await PatchAsync(a, collection, "d", 22, ifVersion: 21)));
    }

    private static Task<HttpResponseMessage> PatchAsync(HttpClient http, string collection, string id, int n, int ifVersion) =>
        http.PostAsJsonAsync("/v1/mutations", new JsonObject
        {
            ["ops"] = new JsonArray(new JsonObject
            {
                ["op"] = "patch", ["collection"] = collection, ["id"] = id, ["set"] = new JsonObject { ["n"] = n }, ["ifVersion"] = ifVersion,
            }),
        });

    private static Task<HttpResponseMessage> IncAsync(HttpClient http, string collection, int mid, int? ifVersion = null)
    {
        var op = new JsonObject { ["op"] = "inc", ["collection"] = collection, ["id"] = "d", ["path"] = "n", ["by"] = 1 };
        if (ifVersion is { } v)
        {
            op["ifVersion"] = v;
        }
        return http.PostAsJsonAsync("/v1/mutations", new JsonObject { ["clientId"] = "mover", ["mid"] = mid, ["ops"] = new JsonArray(op) });
    }

    /// <summary>The version the (successful) write left: the first result's <c>v</c>.</summary>
    private static async Task<long> VersionAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
            return (long)JsonNode.Parse(body)!["results"]![0]!["v"]!;
        }
    }
}
