using System.Net.WebSockets;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Cross-site WebSocket hijacking: only the server's own pages, listed origins and non-browsers may open the socket.</summary>
public sealed class OriginTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(o => o.AllowedOrigins.Add("https://app.example.com"));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<bool> OpensAsync(string? origin)
    {
        using var socket = new ClientWebSocket();
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }
        try
        {
            await socket.ConnectAsync(_server.SyncUrl, CancellationToken.None);
            return socket.State == WebSocketState.Open;
        }
        catch (WebSocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_page_from_another_site_cannot_open_the_socket()
    {
        Assert.False(await OpensAsync("https://evil.example.net"));
        Assert.False(await OpensAsync("http://127.0.0.1:1"));
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, _server.HttpUrl + "v1/sync");
        request.Headers.Add("Origin", "https://evil.example.net");
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(new byte[16]));
        using var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("forbidden", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_servers_own_pages_listed_origins_and_non_browsers_may()
    {
        Assert.True(await OpensAsync(null));
        Assert.True(await OpensAsync($"http://{_server.HttpUrl.Authority}"));
        Assert.True(await OpensAsync("https://app.example.com"));
    }
}
