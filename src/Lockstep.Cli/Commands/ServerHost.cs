using Lockstep.Core;
using Lockstep.Server;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Cli.Commands;

/// <summary>The Lockstep host as `serve` and `bench` run it: exactly what an app embeds — AddLockstep(), a store (SQLite, or PostgreSQL for a cluster), MapLockstep().</summary>
internal static class ServerHost
{
    public static WebApplication Build(string databasePath, string urls, SqliteSynchronous synchronous, Action<LockstepOptions>? configure = null, bool quiet = false,
        string? postgres = null, SampleFiles? samples = null, string? configFile = null, bool open = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }
        builder.WebHost.UseUrls(urls);
        if (quiet)
        {
            builder.Logging.ClearProviders();
        }
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
        // it (development); one reachable from elsewhere must be opened explicitly (--open).
        var loopbackOnly = IsLoopbackOnly(urls);
        builder.Services.PostConfigure<LockstepOptions>(options =>
        {
            if (open || (loopbackOnly && !options.Auth.HasCredentials && !options.Auth.AllowAnonymous))
            {
                options.Auth.OpenToAnyone();
            }
        });
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

    /// <summary>True when every URL listens on a loopback address (127.0.0.0/8, ::1 or localhost).</summary>
    public static bool IsLoopbackOnly(string urls) =>
        urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(url =>
            Uri.TryCreate(url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var u)
            && (u.IsLoopback || (System.Net.IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip))));
}
