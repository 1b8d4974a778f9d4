using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>
/// The bearer token and answers the real server gives only by chance (RealServerAuthenticationTests has the real one): a
/// plain HTTP listener on loopback answers with scripted status codes and problem bodies, and records
/// what the relay sent.
/// </summary>
public sealed class AuthenticationTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;

    public async Task InitializeAsync() => _database = await SqliteServiceDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task The_token_goes_as_a_bearer_header_and_a_refused_token_halts_the_relay_without_marking_anything()
    {
        await using var connection = await _database.OpenAsync();
        var mid = await Harness.PlaceOrderAsync(connection, new Outbox(), "orders", "o1", 1);
        using var stub = new ScriptedServer(
            (401, """{"code":"unauthorized","transient":false,"detail":"The API key is not valid."}"""),
            (503, """{"code":"overloaded","transient":true,"detail":"Busy."}"""),
            (200, """{"seq":7,"results":[{"collection":"orders","id":"o1","v":1}]}"""));
        var tokens = 0;
        var options = Harness.Options(_database.DataSource, stub.Url);
        options.AccessToken = "lsk_ignored";
        options.AccessTokenProvider = _ => ValueTask.FromResult<string?>("lsk_" + Interlocked.Increment(ref tokens));
        using var relay = new OutboxRelay(options);

        var halted = await Assert.ThrowsAsync<OutboxRelayException>(() => relay.PublishPendingAsync());
        Assert.Equal("unauthorized", halted.Code);
        Assert.Equal(401, halted.StatusCode);
        Assert.Equal(1, await relay.CountPendingAsync());
        Assert.Empty(await relay.ListRefusedAsync());

        // Fixed: the next pass retries the transient 503 and publishes.
        Assert.Equal(new OutboxPublishSummary(1, 0, 0), await relay.PublishPendingAsync());
        Assert.Equal(7, await Harness.ScalarAsync(connection, "SELECT seq FROM lockstep_outbox WHERE state = 1"));

        var clientId = await OutboxSchema.GetClientIdAsync(connection);
        Assert.Equal(["Bearer lsk_1", "Bearer lsk_2", "Bearer lsk_3"], stub.Requests.Select(r => r.Authorization));
        Assert.All(stub.Requests, r =>
        {
            Assert.Equal("/v1/mutations", r.Path);
            Assert.Equal(clientId, r.ClientIdHeader);
            using var body = JsonDocument.Parse(r.Body);
            Assert.Equal(clientId, body.RootElement.GetProperty("clientId").GetString());
            Assert.Equal(mid, body.RootElement.GetProperty("mid").GetInt64());
        });
    }

    [Fact]
    public async Task A_fixed_token_is_sent_and_no_token_sends_no_header()
    {
        await using var connection = await _database.OpenAsync();
        var outbox = new Outbox();
        await Harness.PlaceOrderAsync(connection, outbox, "orders", "o1", 1);
        using var stub = new ScriptedServer(
            (200, """{"seq":1,"results":[]}"""),
            (200, """{"seq":2,"results":[]}"""));
        var options = Harness.Options(_database.DataSource, stub.Url);
        options.AccessToken = "eyJhbGciOi.test.jwt";
        using (var relay = new OutboxRelay(options))
        {
            await relay.PublishPendingAsync();
        }
        await Harness.PlaceOrderAsync(connection, outbox, "orders", "o2", 2);
        using (var relay = new OutboxRelay(Harness.Options(_database.DataSource, stub.Url)))
        {
            await relay.PublishPendingAsync();
        }
        Assert.Equal(["Bearer eyJhbGciOi.test.jwt", null], stub.Requests.Select(r => r.Authorization));
    }

    /// <summary>An HTTP listener on a free loopback port that answers each request with the next scripted answer.</summary>
    private sealed class ScriptedServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<(int Status, string Body)> _answers;
        private readonly Task _loop;

        public ScriptedServer(params (int Status, string Body)[] answers)
        {
            _answers = new(answers);
            var port = ServerProcess.FreePort();
            Url = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Url.AbsoluteUri);
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public Uri Url { get; }

        public ConcurrentQueue<(string Path, string? Authorization, string? ClientIdHeader, string Body)> Requests { get; } = new();

        public void Dispose()
        {
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(10));
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                Requests.Enqueue((context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"],
                    context.Request.Headers["Lockstep-Client-Id"], await reader.ReadToEndAsync()));
                var (status, body) = _answers.TryDequeue(out var next) ? next : (500, "");
                context.Response.StatusCode = status;
                context.Response.ContentType = status == 200 ? "application/json" : "application/problem+json";
                var bytes = Encoding.UTF8.GetBytes(body);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
    }
}
