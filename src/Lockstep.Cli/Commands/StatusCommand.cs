using System.CommandLine;
using System.Text.Json.Nodes;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep status</c>: the server's head, horizon and collections.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var url = ServerClient.UrlOption();
        var json = new Option<bool>("--json") { Description = "Print the raw JSON." };
        var command = new Command("status", "Show the server's log position, horizon and collections.") { url, json };
        command.SetAction((result, _) => ServerClient.RunAsync("status", result.GetValue(url)!, async http =>
        {
            using var response = await http.GetAsync("/v1/status");
            if (!response.IsSuccessStatusCode)
            {
                return await ServerClient.FailAsync("status", response);
            }
            var text = await response.Content.ReadAsStringAsync();
            if (result.GetValue(json))
            {
                Console.WriteLine(text);
                return 0;
            }
            var status = JsonNode.Parse(text)!;
            Console.WriteLine($"server      {result.GetValue(url)} ({status["status"]})");
            Console.WriteLine($"head        {status["head"]}");
            Console.WriteLine($"horizon     {status["horizon"]}");
            Console.WriteLine($"subscribed  {status["subscribedConnections"]} connections");
            if (status["process"] is JsonObject process)
            {
                Console.WriteLine($"memory      {(long)process["rssBytes"]! >> 20} MiB resident, managed heap {(long)process["managedHeapBytes"]! >> 20} MiB");
            }
            foreach (var c in status["collections"]!.AsArray())
            {
                Console.WriteLine($"collection  {c!["name"]} ({c["policy"]})");
            }
            return 0;
        }));
        return command;
    }
}
