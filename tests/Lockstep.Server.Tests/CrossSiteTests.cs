using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// A web page on another site, in the browser of someone running an open server on this machine: it
/// may not write through REST (a cross-site form post, a text/plain fetch), and DNS rebinding (its own
/// name resolving to 127.0.0.1) reaches neither REST nor the socket.
/// </summary>
public sealed class CrossSiteTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.AllowedOrigins.Add("https://app.example.com"));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Collection { get; } = "xsite" + Guid.NewGuid().ToString("N")[..8];

    private async Task<(HttpStatusCode Status, string? Code)> SendAsync(HttpMethod method, string path, string? body = null, string? contentType = "application/json",
        string? origin = null, string? host = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            if (contentType is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        if (host is not null)
        {
            request.Headers.Host = host;
        }
        using var response = await _server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var code = response.Content.Headers.ContentType?.MediaType == "application/problem+json" ? (string?)JsonNode.Parse(text)!["code"] : null;
        return (response.StatusCode, code);
    }

    private string Mutation(string id) => $$$"""{"ops":[{"op":"put","collection":"{{{Collection}}}","id":"{{{id}}}","doc":{"by":"page"}}]}""";

    private async Task<bool> ExistsAsync(string id) =>
        (await _server.Http.GetAsync($"/v1/collections/{Collection}/docs/{id}")).StatusCode == HttpStatusCode.OK;

    [Fact]
    public async Task A_page_of_another_site_cannot_write_or_enqueue_over_REST()
    {
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"),
            await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("a"), "text/plain", origin: "https://evil.example.net"));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"),
            await SendAsync(HttpMethod.Put, $"/v1/collections/{Collection}/docs/a", """{"by":"page"}""", origin: "https://evil.example.net"));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"),
            await SendAsync(HttpMethod.Delete, $"/v1/collections/{Collection}/docs/a", origin: "null"));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"),
            await SendAsync(HttpMethod.Post, $"/v1/queues/{Collection}/jobs", """{"payload":1}""", "text/plain", origin: "http://127.0.0.1:1"));
        Assert.False(await ExistsAsync("a"));
        using var queue = await _server.Http.GetAsync($"/v1/queues/{Collection}");
        Assert.Contains("\"ready\":0", await queue.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Reading is not refused by Origin: without CORS headers the page cannot see the answer.
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/v1/collections/{Collection}/docs/a", origin: "https://evil.example.net")).Status);
    }

    [Fact]
    public async Task Only_JSON_bodies_are_read_and_others_are_415_unsupported_media_type()
    {
        foreach (var type in new[] { "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", null })
        {
            Assert.Equal((HttpStatusCode.UnsupportedMediaType, "unsupported_media_type"), await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("t"), type));
        }
        Assert.Equal((HttpStatusCode.UnsupportedMediaType, "unsupported_media_type"),
            await SendAsync(HttpMethod.Patch, $"/v1/collections/{Collection}/docs/t", """{"n":1}""", "text/plain"));
        Assert.False(await ExistsAsync("t"));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("j1"), "application/json; charset=utf-8")).Status);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Patch, $"/v1/collections/{Collection}/docs/j2", """{"n":1}""", "application/merge-patch+json")).Status);
        // A request without a body needs no Content-Type.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/v1/collections/{Collection}/docs/j2")).Status);
    }

    [Fact]
    public async Task The_servers_own_pages_listed_origins_and_non_browsers_may_write()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("o1"), origin: $"http://{_server.HttpUrl.Authority}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("o2"), origin: "https://app.example.com")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("o3"))).Status);
        Assert.True(await ExistsAsync("o1") && await ExistsAsync("o2") && await ExistsAsync("o3"));
    }

    [Fact]
    public async Task DNS_rebinding_reaches_neither_REST_nor_the_socket_of_an_open_server()
    {
        var port = _server.HttpUrl.Port;
        var rebound = $"rebind.example:{port}";
        Assert.Equal((HttpStatusCode.MisdirectedRequest, "host_not_allowed"), await SendAsync(HttpMethod.Get, "/v1/status", host: rebound));
        Assert.Equal((HttpStatusCode.MisdirectedRequest, "host_not_allowed"),
            await SendAsync(HttpMethod.Post, "/v1/mutations", Mutation("r"), host: rebound, origin: $"http://{rebound}"));
        Assert.False(await ExistsAsync("r"));
        Assert.Equal(HttpStatusCode.MisdirectedRequest, await UpgradeAsync(rebound, $"http://{rebound}"));

        foreach (var host in new[] { $"localhost:{port}", $"127.0.0.1:{port}", $"127.1.2.3:{port}", $"[::1]:{port}", $"app.localhost:{port}" })
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/status", host: host)).Status);
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await UpgradeAsync(host, $"http://{host}"));
        }
    }

    [Fact]
    public async Task A_server_with_credentials_serves_any_Host()
    {
        await using var server = await TestServer.StartAsync(o => o.Auth.ApiKeys.Add(AuthFixture.Key("svc", AuthFixture.AdminKey, "*")), open: false);
        using var request = AuthFixture.Request(HttpMethod.Get, "/v1/status", AuthFixture.AdminKey);
        request.Headers.Host = "lockstep.example.com"; // a reverse proxy's name: judged by the credentials, not the Host
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A raw upgrade request with the given Host and Origin: its status (101 when the socket opens).</summary>
    private async Task<HttpStatusCode> UpgradeAsync(string host, string origin)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(_server.HttpUrl.Host, _server.HttpUrl.Port);
        var stream = tcp.GetStream();
        var request = $"GET /v1/sync HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(new byte[16])}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[64];
        var read = 0;
        while (read < 12)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        var line = Encoding.ASCII.GetString(buffer, 0, read);
        return (HttpStatusCode)int.Parse(line.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
    }
}
