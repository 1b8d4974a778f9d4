using System.CommandLine;
using System.Text;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep get | put | patch</c>: one document over the REST API.</summary>
internal static class DocumentCommands
{
    public static Command CreateGet()
    {
        var url = ServerClient.UrlOption();
        var collection = new Argument<string>("collection") { Description = "The collection." };
        var id = new Argument<string>("id") { Description = "The document id." };
        var command = new Command("get", "Print a document (its version goes to standard error).") { url, collection, id };
        command.SetAction((result, _) => ServerClient.RunAsync("get", result.GetValue(url)!, async http =>
        {
            using var response = await http.GetAsync(DocumentPath(result.GetValue(collection)!, result.GetValue(id)!));
            if (!response.IsSuccessStatusCode)
            {
                return await ServerClient.FailAsync("get", response);
            }
            Console.WriteLine(await response.Content.ReadAsStringAsync());
            Console.Error.WriteLine($"version {response.Headers.ETag?.Tag.Trim('"')}");
            return 0;
        }));
        return command;
    }

    public static Command CreatePut() => CreateWrite("put", HttpMethod.Put, "application/json",
        "Write a whole document (JSON inline, @file, or - for standard input).");

    public static Command CreatePatch() => CreateWrite("patch", HttpMethod.Patch, "application/merge-patch+json",
        "Change fields of a document with a JSON Merge Patch (null removes a field).");

    private static Command CreateWrite(string name, HttpMethod method, string mediaType, string description)
    {
        var url = ServerClient.UrlOption();
        var collection = new Argument<string>("collection") { Description = "The collection." };
        var id = new Argument<string>("id") { Description = "The document id." };
        var json = new Argument<string>("json") { Description = "A JSON object, @file, or - to read standard input." };
        var ifVersion = new Option<long?>("--if-version") { Description = "Write only if the document is at this version (If-Match)." };
        var command = new Command(name, description) { url, ifVersion, collection, id, json };
        command.SetAction(async (result, _) =>
        {
            var body = await ServerClient.ReadJsonArgumentAsync(name, result.GetValue(json)!);
            if (body is null)
            {
                return ServerClient.ExitUsage;
            }
            return await ServerClient.RunAsync(name, result.GetValue(url)!, async http =>
            {
                using var request = new HttpRequestMessage(method, DocumentPath(result.GetValue(collection)!, result.GetValue(id)!))
                {
                    Content = new StringContent(body, Encoding.UTF8, mediaType),
                };
                ServerClient.AddIfMatch(request, result.GetValue(ifVersion));
                using var response = await http.SendAsync(request);
                if (!response.IsSuccessStatusCode)
                {
                    return await ServerClient.FailAsync(name, response);
                }
                Console.WriteLine(await response.Content.ReadAsStringAsync());
                return 0;
            });
        });
        return command;
    }

    private static string DocumentPath(string collection, string id) =>
        $"/v1/collections/{Uri.EscapeDataString(collection)}/docs/{Uri.EscapeDataString(id)}";
}
