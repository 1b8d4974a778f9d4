using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>What a browser or a prober sees of the HTTP surface: the status listing, problem bodies, headers, unknown routes.</summary>
public sealed class WebSurfaceTests
{
    private static async Task<JsonObject> StatusAsync(TestServer server, string? token)
    {
        using var request = AuthFixture.Request(HttpMethod.Get, "/v1/status", token);
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private static List<string> Names(JsonObject status) => status["collections"]!.AsArray().Select(c => (string)c!["name"]!).ToList();

    [Fact]
    public async Task Status_lists_only_the_collections_the_caller_may_read_and_system_ones_only_to_a_star_key()
    {
        await using var server = await AuthTests.StartAsync();
        using (var write = AuthFixture.Request(HttpMethod.Put, "/v1/collections/admin/docs/a", AuthFixture.AdminKey, new { n = 1 }))
        {
            Assert.Equal(HttpStatusCode.Created, (await server.Http.SendAsync(write)).StatusCode);
        }
        using (var claim = AuthFixture.Request(HttpMethod.Post, "/v1/groups/g1/claim", AuthFixture.AdminKey, new { member = "m", collections = new[] { "news" } }))
        {
            Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(claim)).StatusCode); // keeps its state in _lockstep.groups
        }

        var star = Names(await StatusAsync(server, AuthFixture.AdminKey));
        Assert.Contains("admin", star);
        Assert.Contains("_lockstep.groups", star);

        var user = Names(await StatusAsync(server, AuthFixture.Jwt("alice")));
        Assert.DoesNotContain("admin", user);
        Assert.DoesNotContain(user, n => n.StartsWith("_lockstep.", StringComparison.Ordinal));
        Assert.Contains("news", user); // configured, and public

        var reader = Names(await StatusAsync(server, AuthFixture.ReaderKey)); // "read": every collection, no system one
        Assert.Contains("admin", reader);
        Assert.DoesNotContain(reader, n => n.StartsWith("_lockstep.", StringComparison.Ordinal));
        Assert.Contains("admin", Names(await StatusAsync(server, AuthFixture.Jwt("root", roles: ["admin"]))));
    }

    [Fact]
    public async Task Problems_escape_markup_from_the_request_and_every_answer_says_nosniff()
    {
        await using var server = await TestServer.StartAsync();
        using var bad = await server.Http.GetAsync("/v1/collections/%3Cscript%3Ealert(1)%3B%3Cb%3E/docs/x");
        var body = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.DoesNotContain("<", body, StringComparison.Ordinal);
        Assert.Contains("<script>alert(1);<b>", (string)JsonNode.Parse(body)!["detail"]!, StringComparison.Ordinal); // still the name, as JSON
        Assert.Equal("nosniff", Assert.Single(bad.Headers.GetValues("X-Content-Type-Options")));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/mutations") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.Add("Origin", "https://x.example/<img src=x onerror=alert(1)>");
        using var origin = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, origin.StatusCode);
        Assert.DoesNotContain("<", await origin.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        foreach (var path in new[] { "/healthz", "/v1/status", "/v1/collections/c/docs/missing" })
        {
            using var response = await server.Http.GetAsync(path);
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        }
    }

    [Fact]
    public async Task Unknown_routes_and_methods_get_problem_bodies_with_their_own_codes()
    {
        await using var server = await TestServer.StartAsync();
        foreach (var (method, path, status, code) in new[]
        {
            (HttpMethod.Get, "/v1/nothing-here", HttpStatusCode.NotFound, "unknown_endpoint"),
            (HttpMethod.Get, "/v1/collections/c", HttpStatusCode.NotFound, "unknown_endpoint"),
            (HttpMethod.Delete, "/v1/status", HttpStatusCode.MethodNotAllowed, "method_not_allowed"),
            (HttpMethod.Post, "/v1/changes", HttpStatusCode.MethodNotAllowed, "method_not_allowed"),
        })
        {
            using var request = new HttpRequestMessage(method, path);
            using var response = await server.Http.SendAsync(request);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal(code, (string?)problem["code"]);
            Assert.Equal((int)status, (int)problem["status"]!);
        }
    }
}
