using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Lockstep.Peers.Serve;

/// <summary>
/// <c>peer serve</c>: the SignalR hub (<see cref="FormHub"/> at <c>/hub</c>) or the polling API
/// (<c>POST /docs/{id}</c>, <c>GET /changes?after=SEQ[&amp;wait=MS]</c>) over <see cref="FormStore"/>, on Kestrel,
/// with the generic host's defaults and logging at Warning.
/// </summary>
internal static class PeerServer
{
    public const string ListeningPrefix = "peer: listening on ";
    private const int ChangesPerPoll = 1000;
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string kind, string urls, string dataDir, bool messagePack, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls(urls);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(new FormStore(dataDir, logsChanges: kind == "polling"));
        if (kind == "signalr")
        {
            var signalR = builder.Services.AddSignalR();
            if (messagePack)
            {
                signalR.AddMessagePackProtocol();
            }
        }
        else
        {
            builder.Services.AddSingleton<ChangeSignal>();
        }
        await using var app = builder.Build();
        if (kind == "signalr")
        {
            app.MapHub<FormHub>("/hub");
        }
        else
        {
            MapPolling(app);
        }
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Console.WriteLine($"{ListeningPrefix}{string.Join(", ", addresses)}; {kind}{(messagePack ? " (MessagePack)" : "")}; data in {dataDir}");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private static void MapPolling(WebApplication app)
    {
        app.MapPost("/docs/{id}", async (string id, FieldUpdate update, FormStore store, ChangeSignal signal, CancellationToken ct) =>
        {
            if (await store.UpdateAsync(id, update.Field, update.Value, ct) is not { } written)
            {
                return Results.NotFound();
            }
            signal.Signal();
            return Results.Ok(new UpdateResult(written.Seq, written.Version));
        });
        app.MapGet("/changes", async (long? after, int? wait, FormStore store, ChangeSignal signal, CancellationToken ct) =>
        {
            var from = after ?? 0;
            // Taken before the read, so a commit between the read and the wait still wakes this poll.
            var next = signal.Next;
            var changes = await store.ChangesAfterAsync(from, ChangesPerPoll, ct);
            if (changes.Count == 0 && wait is > 0)
            {
                try
                {
                    // WaitAsync, not WhenAny with a Task.Delay: its timer goes when the commit comes, rather than
                    // every woken poll leaving a 30 s timer behind.
                    await next.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(wait.Value, MaxWait.TotalMilliseconds)), ct);
                }
                catch (TimeoutException)
                {
                }
                changes = await store.ChangesAfterAsync(from, ChangesPerPoll, ct);
            }
            return Results.Ok(new ChangesPage(changes, changes.Count > 0 ? changes[^1].Seq : from));
        });
    }
}

/// <summary>The body of <c>POST /docs/{id}</c>.</summary>
internal sealed record FieldUpdate(string Field, string Value);

/// <summary>The answer to <c>POST /docs/{id}</c>, after the commit.</summary>
internal sealed record UpdateResult(long Seq, long Version);

/// <summary>The answer to <c>GET /changes</c>: the changes after <c>after</c> and the seq to ask after next.</summary>
internal sealed record ChangesPage(List<FormChange> Changes, long Last);
