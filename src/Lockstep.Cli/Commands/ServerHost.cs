using Lockstep.Server;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lockstep.Cli.Commands;

/// <summary>The Lockstep host as `serve` and `bench` run it: exactly what an app embeds — AddLockstep(), the SQLite store, MapLockstep().</summary>
internal static class ServerHost
{
    public static WebApplication Build(string databasePath, string urls, SqliteSynchronous synchronous, Action<LockstepOptions>? configure = null, bool quiet = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(urls);
        if (quiet)
        {
            builder.Logging.ClearProviders();
        }
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddLockstep(configure).AddSqliteStore(databasePath, synchronous);
        var app = builder.Build();
        app.MapLockstep("/v1");
        return app;
    }
}
