using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server.Tests;

/// <summary>A real HTTP endpoint on loopback that records webhook requests, checks their signatures, and answers as told.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _secret;

    private WebhookReceiver(WebApplication app, string secret)
    {
        _app = app;
        _secret = secret;
    }

    /// <summary>Every request, in arrival order: its delivery id, its body, and whether its signature was right.</summary>
    public ConcurrentQueue<(string Delivery, JsonObject Body, bool SignatureValid, int Status)> Requests { get; } = new();

    /// <summary>Decides each request's status from its body (200 by default).</summary>
    public Func<JsonObject, int> Answer { get; set; } = _ => 200;

    public Uri Url { get; private set; } = null!;

    /// <summary>The events of the accepted requests, in order.</summary>
    public List<JsonObject> Delivered => [.. Requests.Where(r => r.Status == 200).SelectMany(r => r.Body["events"]!.AsArray().Select(e => e!.AsObject()))];

    public static async Task<WebhookReceiver> StartAsync(string secret)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secret);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        receiver.Url = new Uri(app.Urls.First() + "/hook");
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var json = JsonNode.Parse(body)!.AsObject();
        var status = Answer(json);
        Requests.Enqueue((context.Request.Headers["Lockstep-Delivery"].ToString(), json, SignatureValid(context.Request.Headers["Lockstep-Signature"].ToString(), body), status));
        context.Response.StatusCode = status;
    }

    /// <summary>What a receiver does: recompute HMAC-SHA256 over "t.body" and compare in constant time.</summary>
    private bool SignatureValid(string header, byte[] body)
    {
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!parts.TryGetValue("t", out var t) || !parts.TryGetValue("v1", out var v1))
        {
            return false;
        }
        var signed = Encoding.ASCII.GetBytes(t + ".").Concat(body).ToArray();
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(_secret), signed);
        return CryptographicOperations.FixedTimeEquals(expected, Convert.FromHexString(v1))
            && Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - long.Parse(t, System.Globalization.CultureInfo.InvariantCulture)) < 300;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
