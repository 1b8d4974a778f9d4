using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Lockstep.Server;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The <c>Lockstep-Client-Id</c> header follows hello's client id rule, and a new client id buys an anonymous caller no new rate.</summary>
public sealed class ClientIdHeaderTests
{
    [Fact]
    public async Task A_client_id_header_hello_would_refuse_is_400_on_every_endpoint_and_nothing_is_stored()
    {
        await using var server = await TestServer.StartAsync();
        var c = Ops.Unique();
        foreach (var header in new[] { new string('x', 30_000), new string('x', 129), "tab\there" })
        {
            foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
            {
                (HttpMethod.Get, "/v1/status", null),
                (HttpMethod.Get, $"/v1/collections/{c}/docs", null),
                (HttpMethod.Put, $"/v1/collections/{c}/docs/d", new { n = 1 }),
                (HttpMethod.Post, "/v1/mutations", new { ops = new[] { Ops.Put(c, "m", new { n = 1 }) } }),
            })
            {
                using var request = AuthFixture.Request(method, path, null, body);
                request.Headers.TryAddWithoutValidation("Lockstep-Client-Id", header);
                using var response = await server.Http.SendAsync(request);
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                Assert.Equal("invalid_request", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
            }
            // The same id in hello is refused as well: one rule.
            await using var socket = await server.ConnectAsync(header.Replace('\t', '\u0001'));
            Assert.Equal("invalid_request", (string?)socket.Welcome["code"]);
        }
        var listing = JsonNode.Parse(await server.Http.GetStringAsync($"/v1/collections/{c}/docs"))!;
        Assert.Empty(listing["docs"]!.AsArray());

        using var longest = AuthFixture.Request(HttpMethod.Put, $"/v1/collections/{c}/docs/ok", null, new { n = 1 });
        longest.Headers.Add("Lockstep-Client-Id", new string('y', 128));
        Assert.Equal(HttpStatusCode.Created, (await server.Http.SendAsync(longest)).StatusCode);
    }

    [Fact]
    public async Task An_anonymous_caller_rotating_client_ids_is_still_limited_by_its_address_over_REST_and_the_socket()
    {
        await using var server = await AuthTests.StartAsync(o =>
        {
            o.Auth.AllowAnonymous = true;
            o.RateLimitPerSecond = 1;
            o.RateLimitBurst = 6;
        });
        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            using var request = AuthFixture.Request(HttpMethod.Get, "/v1/collections/news/docs/x", null);
            request.Headers.Add("Lockstep-Client-Id", Ops.Unique("rot"));
            codes.Add((await server.Http.SendAsync(request)).StatusCode);
        }
        Assert.Contains(HttpStatusCode.TooManyRequests, codes);
        Assert.InRange(codes.Count(s => s == HttpStatusCode.TooManyRequests), 3, 5);

        // On the socket too: a new connection with a new client id draws from the same address bucket.
        await using var again = await SyncClient.ConnectAsync(server.SyncUrl, Ops.Unique("rot"));
        var reply = await again.MutateAsync(1, Ops.Put("news", "x", new { n = 1 }));
        Assert.Equal("rate_limited", (string?)reply["code"]);

        // Signed-in callers from the same address have their own buckets.
        using var user = AuthFixture.Request(HttpMethod.Get, "/v1/collections/news/docs/x", AuthFixture.Jwt("alice"));
        user.Headers.Add("Lockstep-Client-Id", Ops.Unique("alice"));
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.SendAsync(user)).StatusCode);
        await using var alice = await SyncClient.ConnectAsync(server.SyncUrl, Ops.Unique("alice"), token: AuthFixture.Jwt("alice"));
        Assert.Equal("forbidden", (string?)(await alice.MutateAsync(1, Ops.Put("news", "x", new { n = 1 })))["code"]);
    }
}
