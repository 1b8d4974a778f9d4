using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>The pure parts: request bodies, what each answer means, options, op builders.</summary>
public sealed class RelayUnitTests
{
    [Fact]
    public void The_body_puts_the_client_id_and_the_row_id_in_front_of_the_stored_mutation()
    {
        var mutation = OutboxMutation.Ops(OutboxOp.Increment("stock", "sku-1", "count", -2, ifVersion: 4));
        var body = JsonNode.Parse(Body("svc:abc", 17, mutation.Json))!;
        Assert.Equal("""{"clientId":"svc:abc","mid":17,"ops":[{"op":"inc","collection":"stock","id":"sku-1","path":"count","by":-2,"ifVersion":4}]}""", body.ToJsonString());

        var call = JsonNode.Parse(Body("svc:abc", 18, OutboxMutation.Call("reserveStock", new JsonObject { ["sku"] = "sku-1" }).Json))!;
        Assert.Equal("""{"clientId":"svc:abc","mid":18,"name":"reserveStock","args":{"sku":"sku-1"}}""", call.ToJsonString());
    }

    [Fact]
    public void The_request_body_is_the_stored_mutation_after_the_client_id_and_the_row_id_byte_for_byte()
    {
        var stored = OutboxMutation.Ops(OutboxOp.Put("orders", "o-1", new JsonObject { ["note"] = "café <b>", ["total"] = 1.50m }, ifVersion: 0)).Json;
        Assert.Equal("""{"clientId":"svc:abc","mid":17,"ops":[{"op":"put","collection":"orders","id":"o-1","doc":{"note":"caf\u00E9 \u003Cb\u003E","total":1.50},"ifVersion":0}]}""",
            Body("svc:abc", 17, stored));
        // A mutation given as JSON (FromJson) is stored as given; the body carries its numbers as spelled, its strings escaped as above.
        const string given = "{ \"name\" : \"reserve\", \"args\": {\"sku\": \"café\", \"n\": 1.50e0} }";
        var byHand = OutboxMutation.FromJson(given).Json;
        Assert.Equal(given, byHand);
        Assert.Equal("""{"clientId":"svc:abc","mid":18,"name":"reserve","args":{"sku":"caf\u00E9","n":1.50e0}}""", Body("svc:abc", 18, byHand));
        Assert.False(MutationBodies.TryWriteRequest("svc:abc", 19, "[1]", out _, out _));
    }

    [Fact]
    public void A_stored_mutation_is_the_protocols_json_byte_for_byte()
    {
        var put = OutboxOp.Put("orders", "o-1", new JsonObject { ["total"] = 12.5, ["note"] = "café <b>", ["items"] = new JsonArray(1, 2) }, ifVersion: 0);
        var patch = OutboxOp.Patch("stock", "sku-1", new Dictionary<string, JsonNode?> { ["count"] = 3, ["meta.tag"] = null, ["price"] = 1.50m }, ["old", "x.y"]);
        var inc = OutboxOp.Increment("stock", "sku-1", "count", 0.10m);
        var delete = OutboxOp.Delete("orders", "o-2", ifVersion: 7);
        Assert.Equal("""{"op":"put","collection":"orders","id":"o-1","doc":{"total":12.5,"note":"caf\u00E9 \u003Cb\u003E","items":[1,2]},"ifVersion":0}""", put.ToString());
        Assert.Equal("""{"op":"patch","collection":"stock","id":"sku-1","set":{"count":3,"meta.tag":null,"price":1.50},"unset":["old","x.y"]}""", patch.ToString());
        Assert.Equal("""{"op":"inc","collection":"stock","id":"sku-1","path":"count","by":0.10}""", inc.ToString());
        Assert.Equal("""{"op":"delete","collection":"orders","id":"o-2","ifVersion":7}""", delete.ToString());
        Assert.Equal(patch.ToString(), patch.ToJson().ToJsonString());
        Assert.Equal(put.ToString(), put.ToJson().ToJsonString());
        Assert.Equal("{\"ops\":[" + string.Join(',', put, patch, inc, delete) + "]}", OutboxMutation.Ops(put, patch, inc, delete).Json);
        Assert.Equal("""{"name":"reserve","args":{"sku":"caf\u00E9","n":[1,null]}}""", OutboxMutation.Call("reserve", new JsonObject { ["sku"] = "café", ["n"] = new JsonArray(1, null) }).Json);
        Assert.Equal("""{"name":"go"}""", OutboxMutation.Call("go", null).Json);
    }

    [Fact]
    public async Task A_stored_row_that_is_not_a_json_object_is_refused_without_asking_the_server()
    {
        using var source = Microsoft.Data.Sqlite.SqliteFactory.Instance.CreateDataSource("Data Source=:memory:");
        // The URL leads nowhere: a delivery that asked the server would come back transient (unreachable), not refused.
        using var delivery = new MutationDelivery(new OutboxRelayOptions { DataSource = source, ServerUrl = new Uri("http://127.0.0.1:9/v1/") });

        var outcome = await delivery.SendAsync("svc:abc", 20, "[1]", CancellationToken.None);

        Assert.Equal(PublishOutcomeKind.Refused, outcome.Kind);
        Assert.Equal("invalid_request", outcome.Code);
        Assert.StartsWith("The stored mutation is not a JSON object", outcome.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(200, """{"seq":12,"results":[]}""", "Applied", "")]
    [InlineData(200, """{"seq":12,"results":[],"dup":true}""", "Applied", "")]
    [InlineData(422, """{"code":"invalid_operation","transient":false,"detail":"no"}""", "Refused", "invalid_operation")]
    [InlineData(409, """{"code":"version_conflict","transient":false,"detail":"no"}""", "Refused", "version_conflict")]
    [InlineData(429, """{"code":"rate_limited","transient":true,"detail":"slow down"}""", "Transient", "rate_limited")]
    [InlineData(503, """{"code":"overloaded","transient":true,"detail":"busy"}""", "Transient", "overloaded")]
    [InlineData(503, """{"code":"storage_unavailable","transient":true,"detail":"db"}""", "Transient", "storage_unavailable")]
    [InlineData(401, """{"code":"unauthorized","transient":false,"detail":"bad token"}""", "Halt", "unauthorized")]
    [InlineData(403, """{"code":"forbidden","transient":false,"detail":"no"}""", "Halt", "forbidden")]
    [InlineData(502, "<html>bad gateway</html>", "Transient", "http_502")]
    [InlineData(404, "", "Halt", "http_404")]
    [InlineData(401, "", "Halt", "http_401")]
    [InlineData(200, "<html>a login page</html>", "Halt", "unknown")]
    [InlineData(200, """{"seq":"12","results":[]}""", "Halt", "unknown")]
    [InlineData(400, """{"code":7,"detail":"no"}""", "Halt", "http_400")]
    [InlineData(500, """{"code":7}""", "Transient", "http_500")]
    public void Each_answer_is_applied_refused_retried_or_halts(int status, string body, string kind, string code)
    {
        using var response = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body, Encoding.UTF8) };
        var outcome = MutationDelivery.Classify(response, Encoding.UTF8.GetBytes(body));
        Assert.Equal(kind, outcome.Kind.ToString());
        Assert.Equal(code, outcome.Code);
        if (outcome.Kind == PublishOutcomeKind.Applied)
        {
            Assert.Equal(12, outcome.Seq);
            Assert.Equal(body.Contains("dup", StringComparison.Ordinal), outcome.Duplicate);
        }
    }

    [Fact]
    public void A_retry_after_header_is_kept_for_the_retry_delay()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(1));
        var outcome = MutationDelivery.Classify(response, Encoding.UTF8.GetBytes("""{"code":"rate_limited","transient":true}"""));
        Assert.Equal(TimeSpan.FromSeconds(1), outcome.RetryAfter);
    }

    private static string Body(string clientId, long id, string mutation) =>
        MutationBodies.TryWriteRequest(clientId, id, mutation, out var body, out var error) ? Encoding.UTF8.GetString(body) : throw new InvalidOperationException(error);

    [Fact]
    public void Options_are_checked_when_the_relay_is_created()
    {
        Assert.Throws<ArgumentException>(() => new OutboxRelay(new OutboxRelayOptions { ServerUrl = new Uri("http://x/v1/") }));
        using var source = Microsoft.Data.Sqlite.SqliteFactory.Instance.CreateDataSource("Data Source=:memory:");
        Assert.Throws<ArgumentException>(() => new OutboxRelay(new OutboxRelayOptions { DataSource = source, ServerUrl = new Uri("ws://x/v1/") }));
        Assert.Throws<ArgumentException>(() => new OutboxRelay(new OutboxRelayOptions { DataSource = source, ServerUrl = new Uri("http://x/v1/"), BatchSize = 0 }));
        Assert.Equal(new Uri("http://x:5080/v1/mutations"), new OutboxRelayOptions { ServerUrl = new Uri("http://x:5080/v1") }.MutationsUrl);
        Assert.Equal(new Uri("http://x:5080/v1/mutations"), new OutboxRelayOptions { ServerUrl = new Uri("http://x:5080/v1/") }.MutationsUrl);
    }

    [Fact]
    public void Ops_and_mutations_refuse_what_the_server_would_refuse_anyway()
    {
        Assert.Throws<ArgumentException>(() => OutboxOp.Put("", "x", []));
        Assert.Throws<ArgumentException>(() => OutboxOp.Patch("c", "x", new Dictionary<string, JsonNode?>()));
        Assert.Throws<ArgumentException>(() => OutboxMutation.Ops());
        Assert.Throws<ArgumentException>(() => OutboxMutation.FromJson("""{"ops":[],"mid":3}"""));
        Assert.Throws<ArgumentException>(() => OutboxMutation.FromJson("[1]"));
        Assert.Throws<ArgumentException>(() => OutboxMutation.FromJson("{"));
        Assert.Equal("""{"name":"go"}""", OutboxMutation.FromJson("""{"name":"go"}""").Json);
    }
}
