using Lockstep.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Server.Tests;

/// <summary>A real Lockstep server on Kestrel, 127.0.0.1 and a free port, over a temp SQLite file.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, string dataDir)
    {
        _app = app;
        DataDir = dataDir;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        HttpUrl = new Uri(address);
        SyncUrl = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/v1/sync");
        Http = new HttpClient { BaseAddress = HttpUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri HttpUrl { get; }

    public Uri SyncUrl { get; }

    public HttpClient Http { get; }

    public string DataDir { get; }

    /// <summary>What the server logged at Warning and above.</summary>
    public CapturedLog Log => _app.Services.GetRequiredService<CapturedLog>();

    /// <summary>When true, disposing leaves the data directory for a restart.</summary>
    public bool KeepData { get; set; }

    public LockstepEngine Engine => _app.Services.GetRequiredService<LockstepEngine>();

    /// <summary>One of the server's services (the compaction service, say).</summary>
    public T Service<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    /// <summary>The server's store, to check what it persisted.</summary>
    public Lockstep.Core.IChangeStore Store => _app.Services.GetRequiredService<Lockstep.Core.IChangeStore>();

    /// <param name="configure">Options on top of the test defaults.</param>
    /// <param name="build">Mutators and such.</param>
    /// <param name="dataDir">Where the store lives (a new temp directory by default).</param>
    /// <param name="open">Open to anyone (the default here); auth tests pass false and configure credentials.</param>
    public static async Task<TestServer> StartAsync(Action<LockstepOptions>? configure = null, Action<LockstepBuilder>? build = null, string? dataDir = null, bool open = true)
    {
        dataDir ??= Path.Combine(Path.GetTempPath(), "lockstep-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<CapturedLog>();
        builder.Services.AddSingleton<ILoggerProvider>(services => services.GetRequiredService<CapturedLog>());
        var lockstep = builder.Services.AddLockstep(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
            o.IdleTimeout = TimeSpan.FromSeconds(30);
            if (open)
            {
                o.Auth.OpenToAnyone();
            }
            configure?.Invoke(o);
        }).AddSqliteStore(Path.Combine(dataDir, "lockstep.db"), Lockstep.Storage.Sqlite.SqliteSynchronous.Normal);
        build?.Invoke(lockstep);
        var app = builder.Build();
        app.MapLockstep("/v1");
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A server that fails to start (a configuration test) leaves nothing behind.
            await app.DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
            throw;
        }
        return new TestServer(app, dataDir);
    }

    public Task<SyncClient> ConnectAsync(string? clientId = null, long? cursor = null, object[]? subs = null,
        Dictionary<string, Dictionary<string, (long Version, System.Text.Json.Nodes.JsonObject Doc)>>? views = null) =>
        SyncClient.ConnectAsync(SyncUrl, clientId, cursor, subs, views: views);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using (var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stopTimeout.Token);
        }
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            if (!KeepData)
            {
                Directory.Delete(DataDir, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }
}
