using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep jobs enqueue | stats | dead | replay</c>: the job queues from the command line (docs/microservices.md).</summary>
internal static class JobCommands
{
    private static readonly string[] States = ["ready", "leased", "done", "dead"];

    public static Command Create() => new("jobs", "Job queues: enqueue a job, show a queue, list and replay its dead letters.")
    {
        CreateEnqueue(),
        CreateStats(),
        CreateDead(),
        CreateReplay(),
    };

    private static Command CreateEnqueue()
    {
        var url = ServerClient.UrlOption();
        var queue = new Argument<string>("queue") { Description = "The queue." };
        var payload = new Argument<string>("payload") { Description = "The payload: any JSON value, @file, or - to read standard input." };
        var lane = new Option<string>("--lane") { Description = "high, medium or low.", DefaultValueFactory = _ => "medium" };
        lane.AcceptOnlyFromAmong("high", "medium", "low");
        var delay = new Option<long?>("--delay-ms") { Description = "Claimable only after this many milliseconds." };
        var key = new Option<string?>("--key") { Description = "An idempotency key: enqueuing with it again returns the existing job." };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before the job becomes a dead letter (the server's default: 5)." };
        var command = new Command("enqueue", "Enqueue a job and print it.") { url, lane, delay, key, maxAttempts, queue, payload };
        command.SetAction(async (result, _) =>
        {
            var text = await ReadPayloadAsync(result.GetValue(payload)!);
            if (text is null)
            {
                return ServerClient.ExitUsage;
            }
            var body = new JsonObject { ["payload"] = JsonNode.Parse(text), ["lane"] = result.GetValue(lane) };
            if (result.GetValue(delay) is { } ms)
            {
                body["delayMs"] = ms;
            }
            if (result.GetValue(key) is { } k)
            {
                body["idempotencyKey"] = k;
            }
            if (result.GetValue(maxAttempts) is { } max)
            {
                body["maxAttempts"] = max;
            }
            return await PostAsync("jobs enqueue", result.GetValue(url)!, $"/v1/queues/{Uri.EscapeDataString(result.GetValue(queue)!)}/jobs", body);
        });
        return command;
    }

    private static Command CreateStats()
    {
        var url = ServerClient.UrlOption();
        var queue = new Argument<string>("queue") { Description = "The queue." };
        var command = new Command("stats", "Show how many jobs of a queue are ready, leased, done and dead.") { url, queue };
        command.SetAction((result, _) => ServerClient.RunAsync("jobs stats", result.GetValue(url)!, async http =>
        {
            using var response = await http.GetAsync($"/v1/queues/{Uri.EscapeDataString(result.GetValue(queue)!)}");
            if (!response.IsSuccessStatusCode)
            {
                return await ServerClient.FailAsync("jobs stats", response);
            }
            var counts = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Console.WriteLine($"queue   {counts["queue"]}");
            foreach (var state in States)
            {
                Console.WriteLine($"{state,-7} {counts[state]}");
            }
            return 0;
        }));
        return command;
    }

    private static Command CreateDead()
    {
        var url = ServerClient.UrlOption();
        var queue = new Argument<string>("queue") { Description = "The queue." };
        var limit = new Option<int>("--limit") { Description = "At most this many (1 to 1000).", DefaultValueFactory = _ => 100 };
        var after = new Option<long>("--after") { Description = "Only dead letters with a larger id (paging)." };
        var command = new Command("dead", "List a queue's dead letters, one JSON object a line.") { url, limit, after, queue };
        command.SetAction((result, _) => ServerClient.RunAsync("jobs dead", result.GetValue(url)!, async http =>
        {
            var path = string.Create(CultureInfo.InvariantCulture,
                $"/v1/queues/{Uri.EscapeDataString(result.GetValue(queue)!)}/dead?after={result.GetValue(after)}&limit={result.GetValue(limit)}");
            using var response = await http.GetAsync(path);
            if (!response.IsSuccessStatusCode)
            {
                return await ServerClient.FailAsync("jobs dead", response);
            }
            foreach (var job in JsonNode.Parse(await response.Content.ReadAsStringAsync())!["jobs"]!.AsArray())
            {
                Console.WriteLine(job!.ToJsonString());
            }
            return 0;
        }));
        return command;
    }

    private static Command CreateReplay()
    {
        var url = ServerClient.UrlOption();
        var queue = new Argument<string>("queue") { Description = "The queue." };
        var ids = new Option<long[]>("--id") { Description = "Replay only these dead letters (repeat the option); all of the queue's without it.", AllowMultipleArgumentsPerToken = true };
        var command = new Command("replay", "Make dead letters ready again, with their attempts reset.") { url, ids, queue };
        command.SetAction(async (result, _) =>
        {
            var body = new JsonObject();
            if (result.GetValue(ids) is { Length: > 0 } chosen)
            {
                body["ids"] = new JsonArray(chosen.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());
            }
            return await PostAsync("jobs replay", result.GetValue(url)!, $"/v1/queues/{Uri.EscapeDataString(result.GetValue(queue)!)}/dead/replay", body);
        });
        return command;
    }

    private static Task<int> PostAsync(string command, Uri url, string path, JsonObject body) => ServerClient.RunAsync(command, url, async http =>
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(path, content);
        if (!response.IsSuccessStatusCode)
        {
            return await ServerClient.FailAsync(command, response);
        }
        Console.WriteLine(await response.Content.ReadAsStringAsync());
        return 0;
    });

    /// <summary>Inline JSON, <c>@file</c>, or <c>-</c>; null with a message when it is not JSON.</summary>
    private static async Task<string?> ReadPayloadAsync(string value)
    {
        try
        {
            var text = value == "-" ? await Console.In.ReadToEndAsync()
                : value.StartsWith('@') ? await File.ReadAllTextAsync(value[1..])
                : value;
            using var _ = JsonDocument.Parse(text);
            return text;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            Console.Error.WriteLine($"lockstep jobs enqueue: the payload is not valid JSON or cannot be read: {e.Message}");
            return null;
        }
    }
}
