using System.CommandLine;
using System.Diagnostics;
using Lockstep.Core;
using Lockstep.Server;
using Lockstep.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Lockstep.Protocol;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep serve</c>: the host. The same code an app embeds: AddLockstep(), a store, MapLockstep().</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var data = new Option<DirectoryInfo>("--data") { Description = "The data directory (created when missing); the log is <data>/lockstep.db.", DefaultValueFactory = _ => new DirectoryInfo("data") };
        var urls = new Option<string>("--urls") { Description = "Where to listen.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var synchronous = new Option<SqliteSynchronous>("--synchronous") { Description = "Durability of each commit: full (fsync, the default), normal (fsync at checkpoints), off.", DefaultValueFactory = _ => SqliteSynchronous.Full };
        var strict = new Option<string[]>("--strict") { Description = "A collection whose writes need ifVersion (optimistic concurrency); repeatable.", AllowMultipleArgumentsPerToken = true };
        var postgres = new Option<string?>("--postgres") { Description = "Keep the log in PostgreSQL instead (an Npgsql connection string); nodes given the same database form a cluster. --data and --synchronous are then unused." };
        var samples = new Option<string?>("--samples")
        {
            Description = "Serve the browser samples at /samples/ from this Lockstep checkout (its samples/web and clients/typescript/dist; "
                + "the collection approvals is then strict), or 'off'. Default: the checkout holding the current directory or lockstep itself, if any.",
        };
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file (the section Lockstep: authentication, rules, limits; docs/security.md). appsettings.json and environment variables such as Lockstep__Auth__AllowAnonymous=true also apply." };
        var open = new Option<bool>("--open") { Description = "Serve anyone without credentials, read and write everything (default only when listening on loopback with no authentication configured)." };
        var command = new Command("serve", "Run the Lockstep server on an embedded SQLite store, or on PostgreSQL with --postgres.") { data, urls, synchronous, strict, postgres, samples, config, open };
        command.SetAction(async (result, cancellationToken) =>
        {
            var strictCollections = result.GetValue(strict) ?? [];
            foreach (var name in strictCollections)
            {
                if (!Names.IsValidCollection(name))
                {
                    Console.Error.WriteLine($"lockstep serve: '{name}' is not a valid collection name.");
                    return 2;
                }
            }
            var samplesDir = result.GetValue(samples);
            var sampleFiles = samplesDir == "off" ? null : SampleFiles.Find(samplesDir);
            if (samplesDir is not null and not "off" && sampleFiles is null)
            {
                Console.Error.WriteLine($"lockstep serve: '{samplesDir}' holds no samples/web (give a Lockstep checkout, or 'off').");
                return 2;
            }
            var configFile = result.GetValue(config);
            if (configFile is { Exists: false })
            {
                Console.Error.WriteLine($"lockstep serve: the configuration file '{configFile.FullName}' does not exist.");
                return 2;
            }
            return await RunAsync(result.GetValue(data)!, result.GetValue(urls)!, result.GetValue(synchronous), strictCollections, result.GetValue(postgres), sampleFiles,
                configFile?.FullName, result.GetValue(open), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(DirectoryInfo data, string urls, SqliteSynchronous synchronous, string[] strict, string? postgres, SampleFiles? samples,
        string? configFile, bool open, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var path = Path.Combine(data.FullName, "lockstep.db");
        if (postgres is null)
        {
            Directory.CreateDirectory(data.FullName);
        }
        WebApplication app;
        try
        {
            app = ServerHost.Build(path, urls, synchronous, options =>
            {
                foreach (var name in strict)
                {
                    options.Collection(name, ConflictPolicy.Strict);
                }
            }, postgres: postgres, samples: samples, configFile: configFile, open: open);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"lockstep serve: {e.Message}");
            return 2;
        }
        await using var _ = app;
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (BeyondLoopbackException e)
        {
            Console.Error.WriteLine($"lockstep serve: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or FormatException or Npgsql.NpgsqlException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            Console.Error.WriteLine($"lockstep serve: {e.Message}");
            return 1;
        }
        var engine = app.Services.GetRequiredService<LockstepEngine>();
        var auth = engine.Options.Auth;
        var where = postgres is null
            ? $"data in {path} (synchronous={synchronous.ToString().ToLowerInvariant()}, head {engine.Head})"
            : $"log in PostgreSQL, node {engine.Options.NodeId} (head {engine.Head})";
        Console.WriteLine($"lockstep: listening on {string.Join(", ", app.Urls)}; {where}; ready in {started.ElapsedMilliseconds} ms");
        Console.WriteLine(auth.HasCredentials
            ? $"lockstep: authentication on ({auth.ApiKeys.Count} API keys{(auth.Jwt.IsConfigured ? ", JWT" : "")}){(auth.AllowAnonymous ? "; anonymous requests allowed" : "")}"
            : "lockstep: open to anyone who can reach it (no authentication configured; docs/security.md)");
        if (samples is not null)
        {
            Console.WriteLine(samples.LibraryBuilt
                ? $"lockstep: browser samples at {app.Urls.FirstOrDefault()}{SampleFiles.RequestPath}/ (from {samples.Checkout}; collection {SampleFiles.StrictCollection} is strict)"
                : $"lockstep: browser samples at {app.Urls.FirstOrDefault()}{SampleFiles.RequestPath}/ need the TypeScript client built first: {samples.Library} is missing");
        }
        await app.WaitForShutdownAsync(cancellationToken);
        return 0;
    }
}
