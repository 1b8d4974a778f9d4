using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;

namespace Lockstep.Cli.Commands;

/// <summary>
/// The browser samples that <c>lockstep serve</c> serves from a Lockstep checkout: the pages of
/// samples/web at <c>/samples/</c> and the TypeScript client's compiled ESM (clients/typescript/dist)
/// at <c>/samples/lib/</c>. Only those two folders are served, by the static files middleware, and
/// nothing in them that is reached through a symbolic link.
/// </summary>
internal sealed class SampleFiles
{
    /// <summary>Where the samples are served.</summary>
    public const string RequestPath = "/samples";

    /// <summary>The approval board's collection; it must be strict, so serving the samples makes it so.</summary>
    public const string StrictCollection = "approvals";

    private const string BuildCommand = "npm --prefix clients/typescript ci && npm --prefix clients/typescript run build";

    private SampleFiles(string checkout)
    {
        Checkout = checkout;
        Pages = Path.Combine(checkout, "samples", "web");
        Library = Path.Combine(checkout, "clients", "typescript", "dist");
    }

    /// <summary>The checkout the samples come from (the folder holding Lockstep.slnx).</summary>
    public string Checkout { get; }

    /// <summary>The pages: samples/web.</summary>
    public string Pages { get; }

    /// <summary>The TypeScript client as the pages import it: clients/typescript/dist.</summary>
    public string Library { get; }

    /// <summary>Whether the TypeScript client has been built; when not, /samples/ says how to build it.</summary>
    public bool LibraryBuilt => File.Exists(Path.Combine(Library, "index.js"));

    /// <summary>
    /// The samples of the checkout at <paramref name="checkout"/>, or null when that folder has no
    /// samples/web. Without a folder, the checkout holding the current directory, else the one holding
    /// this program (so <c>dotnet run --project src/Lockstep.Cli -- serve</c> from a clone serves them).
    /// </summary>
    public static SampleFiles? Find(string? checkout = null)
    {
        if (checkout is not null)
        {
            var root = Path.GetFullPath(checkout);
            return Directory.Exists(Path.Combine(root, "samples", "web")) ? new SampleFiles(root) : null;
        }
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Lockstep.slnx")))
                {
                    if (Directory.Exists(Path.Combine(dir.FullName, "samples", "web")))
                    {
                        return new SampleFiles(dir.FullName);
                    }
                    break;
                }
            }
        }
        return null;
    }

    /// <summary>Serves the pages and the library under <see cref="RequestPath"/>; anything else there is a 404.</summary>
    public void Map(IApplicationBuilder app)
    {
        // Whether the library is built is decided once, at start: a build made later needs a restart,
        // and the page that says how to build it says so.
        var built = LibraryBuilt;
        app.Map(RequestPath, samples =>
        {
            if (!built)
            {
                samples.Run(WriteBuildInstructionsAsync);
                return;
            }
            samples.Map("/lib", library => library.UseStaticFiles(Options(Library)));
            var pages = new ContainedFileProvider(Pages);
            samples.UseDefaultFiles(new DefaultFilesOptions { FileProvider = pages });
            samples.UseStaticFiles(Options(Pages, pages));
        });
    }

    private static StaticFileOptions Options(string root, IFileProvider? provider = null) => new()
    {
        FileProvider = provider ?? new ContainedFileProvider(root),
        // The samples are read and edited in place: a reload must show the files as they are now.
        OnPrepareResponse = context => context.Context.Response.Headers.CacheControl = "no-cache",
    };

    private async Task WriteBuildInstructionsAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync($"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Lockstep samples: build the TypeScript client first</title></head>
            <body style="font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; line-height: 1.5">
            <h1>Build the TypeScript client first</h1>
            <p>The browser samples import the TypeScript client's compiled modules from
            <code>{WebUtility.HtmlEncode(Library)}</code>, which does not exist yet. From the root of the checkout run</p>
            <pre style="background: #f3f3f3; padding: 1rem">{WebUtility.HtmlEncode(BuildCommand)}</pre>
            <p>then restart <code>lockstep serve</code> and reload this page.</p>
            </body></html>
            """, context.RequestAborted);
    }
}
