using System.CommandLine;
using System.Text.Json.Nodes;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep tail</c>: follows the change feed, one JSON line per change.</summary>
internal static class TailCommand
{
    public static Command Create()
    {
        var url = ServerClient.UrlOption();
        var after = new Option<long?>("--after") { Description = "Start after this seq (default: the current head, so only new changes)." };
        var collections = new Option<string?>("--collections") { Description = "Only these collections (comma-separated)." };
        var limit = new Option<int>("--limit") { Description = "Changes per request.", DefaultValueFactory = _ => 1000 };
        var once = new Option<bool>("--once") { Description = "Print what is there now and exit instead of following." };
        var command = new Command("tail", "Follow the change log, printing one JSON line per change.") { url, after, collections, limit, once };
        command.SetAction((result, cancellationToken) => ServerClient.RunAsync("tail", result.GetValue(url)!, async http =>
        {
            var cursor = result.GetValue(after);
            if (cursor is null)
            {
                var status = JsonNode.Parse(await http.GetStringAsync("/v1/status", cancellationToken))!;
                cursor = result.GetValue(once) ? 0 : (long)status["head"]!;
            }
            var filter = result.GetValue(collections) is { Length: > 0 } names ? "&collections=" + Uri.EscapeDataString(names) : "";
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    var wait = result.GetValue(once) ? 0 : 30;
                    using var response = await http.GetAsync($"/v1/changes?after={cursor}&limit={result.GetValue(limit)}&wait={wait}{filter}", cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        return await ServerClient.FailAsync("tail", response);
                    }
                    var page = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;
                    var changes = page["changes"]!.AsArray();
                    foreach (var change in changes)
                    {
                        Console.WriteLine(change!.ToJsonString(Lockstep.Core.LockstepJson.Options));
                    }
                    cursor = (long)page["cursor"]!;
                    if (result.GetValue(once) && changes.Count < result.GetValue(limit))
                    {
                        return 0;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            return 0;
        }));
        return command;
    }
}
