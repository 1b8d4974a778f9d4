using System.CommandLine;
using System.Text.Json.Nodes;
using Lockstep.Server;

namespace Lockstep.Cli.Commands;

/// <summary><c>lockstep apikey new</c>: makes an API key and prints it with the configuration entry (its hash) for the server.</summary>
internal static class ApiKeyCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "The service the key is for.", Required = true };
        var scopes = new Option<string[]>("--scope")
        {
            Description = "What the key may do: read, write, read:COLLECTION, write:COLLECTION, jobs, groups, groups:GROUP, groups:PREFIX* or *; repeatable.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["read", "write"],
        };
        var create = new Command("new", "Make a new API key: prints the key (give it to the service) and the entry for Lockstep:Auth:ApiKeys (only the hash).") { name, scopes };
        create.SetAction(result =>
        {
            var key = ApiKeys.Generate();
            var entry = new JsonObject
            {
                ["Name"] = result.GetValue(name),
                ["Hash"] = ApiKeys.Hash(key),
                ["Scopes"] = new JsonArray([.. (result.GetValue(scopes) ?? []).Select(s => JsonValue.Create(s))]),
            };
            Console.WriteLine($"key:   {key}");
            Console.WriteLine($"entry: {entry.ToJsonString()}");
            return 0;
        });
        return new Command("apikey", "API keys for services.") { create };
    }
}
