using Lockstep.Core;
using Lockstep.Server;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Cli.Commands;

/// <summary>The Lockstep host as `serve` runs it (and `bench`, through a child `serve`): exactly what an app embeds — AddLockstep(), a store (SQLite, or PostgreSQL for a cluster), MapLockstep().</summary>
internal static class ServerHost
{
    public static WebApplication Build(string databasePath, string urls, SqliteSynchronous synchronous, Action<LockstepOptions>? configure = null,
        string? postgres = null, SampleFiles? samples = null, string? configFile = null, bool open = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }
        builder.WebHost.UseUrls(urls);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        var lockstep = builder.Services.AddLockstep(options =>
        {
            // The first URL is where other nodes' clients are told to find this one (GET /v1/cluster).
            options.NodeUrl = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
            if (samples is not null)
            {
                options.Collection(SampleFiles.StrictCollection, ConflictPolicy.Strict);
            }
            configure?.Invoke(options);
        });
        // With no credentials configured, a server reachable only from this machine is open to anyone on
        // it (development); one reachable from elsewhere must be opened explicitly (--open). "Reachable"
        // is judged by the endpoints Kestrel binds — --urls, or Kestrel:Endpoints from --config, which
        // take precedence over it — each as Kestrel resolves it, before it is bound.
        var openedForLoopback = false;
        builder.Services.PostConfigure<LockstepOptions>(options =>
        {
            if (open || (!options.Auth.HasCredentials && !options.Auth.AllowAnonymous))
            {
                openedForLoopback = !open;
                options.Auth.OpenToAnyone();
            }
        });
        builder.Services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<LockstepOptions>>((kestrel, lockstepOptions) => kestrel.ConfigureEndpointDefaults(listen =>
            {
                _ = lockstepOptions.Value; // settles openedForLoopback
                if (openedForLoopback && listen.EndPoint is System.Net.IPEndPoint endpoint && !IsLoopback(endpoint.Address))
                {
                    throw new BeyondLoopbackException(endpoint);
                }
            }));
        if (postgres is null)
        {
            lockstep.AddSqliteStore(databasePath, synchronous);
        }
        else
        {
            lockstep.AddPostgreSqlStore(postgres);
        }
        var app = builder.Build();
        app.MapLockstep("/v1");
        samples?.Map(app);
        return app;
    }

    private static bool IsLoopback(System.Net.IPAddress address) =>
        System.Net.IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}

/// <summary>The server was about to listen beyond loopback with no credentials configured and without <c>--open</c>: nothing was bound there.</summary>
internal sealed class BeyondLoopbackException(System.Net.IPEndPoint endpoint)
    : InvalidOperationException($"no authentication is configured and the server would listen on {endpoint} beyond loopback, where it would refuse every request. "
        + "Configure API keys or JWT (Lockstep:Auth, docs/security.md), or pass --open to serve anyone.");
