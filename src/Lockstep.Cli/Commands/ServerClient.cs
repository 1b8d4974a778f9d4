using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Lockstep.Cli.Commands;

/// <summary>What the tool commands share: the <c>--url</c> option, an HTTP client, and turning failures into one clear line and an exit code.</summary>
internal static class ServerClient
{
    public const int ExitProblem = 1;
    public const int ExitUsage = 2;
    public const int ExitUnreachable = 3;

    public static Option<Uri> UrlOption() => new("--url")
    {
        Description = "The server's base URL.",
        DefaultValueFactory = _ => new Uri("http://127.0.0.1:5080"),
        CustomParser = ParseUrl,
    };

    /// <summary>Parses an absolute http(s) or ws(s) URL, reporting anything else as a usage error.</summary>
    public static Uri? ParseUrl(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" or "ws" or "wss")
        {
            return url;
        }
        result.AddError($"'{text}' is not an absolute http:// or ws:// URL.");
        return null;
    }

    /// <summary>An HTTP client for the server; with <c>LOCKSTEP_TOKEN</c> set (an API key or a JWT), it authenticates with it.</summary>
    public static HttpClient Create(Uri url)
    {
        var http = new HttpClient { BaseAddress = url, Timeout = Timeout.InfiniteTimeSpan };
        if (Environment.GetEnvironmentVariable("LOCKSTEP_TOKEN") is { Length: > 0 } token)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return http;
    }

    /// <summary>Runs a call, printing a one-line message for an unreachable server.</summary>
    public static async Task<int> RunAsync(string command, Uri url, Func<HttpClient, Task<int>> call)
    {
        using var http = Create(url);
        try
        {
            return await call(http);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            Console.Error.WriteLine($"lockstep {command}: cannot reach the server at {url} ({e.Message}). Is `lockstep serve` running?");
            return ExitUnreachable;
        }
    }

    /// <summary>Prints a problem+json answer as "code: detail" and returns the exit code for it.</summary>
    public static async Task<int> FailAsync(string command, HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        string message;
        if (Lockstep.Protocol.ProblemBody.TryRead(body, out var problem))
        {
            message = $"{problem.Code}: {problem.Detail}";
            if (problem.Current is { } current)
            {
                message += $" (current: {JsonNode.Parse(current.Json)?.ToJsonString(Lockstep.Core.LockstepJson.Options) ?? "null"})";
            }
        }
        else
        {
            message = $"{(int)response.StatusCode} {response.ReasonPhrase}";
        }
        Console.Error.WriteLine($"lockstep {command}: {message}");
        return ExitProblem;
    }

    /// <summary>Reads a JSON argument: inline text, <c>@file</c>, or <c>-</c> for standard input; null with a message when it is not a JSON object.</summary>
    public static async Task<string?> ReadJsonArgumentAsync(string command, string value)
    {
        string text;
        try
        {
            text = value == "-" ? await Console.In.ReadToEndAsync()
                : value.StartsWith('@') ? await File.ReadAllTextAsync(value[1..])
                : value;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"lockstep {command}: {e.Message}");
            return null;
        }
        try
        {
            if (JsonNode.Parse(text) is JsonObject)
            {
                return text;
            }
        }
        catch (System.Text.Json.JsonException e)
        {
            Console.Error.WriteLine($"lockstep {command}: the document is not valid JSON: {e.Message}");
            return null;
        }
        Console.Error.WriteLine($"lockstep {command}: the document must be a JSON object.");
        return null;
    }

    public static void AddIfMatch(HttpRequestMessage request, long? version)
    {
        if (version is { } v)
        {
            request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{v}\""));
        }
    }

    public static bool IsSuccess(HttpResponseMessage response) => response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.NotModified;
}
