using System.Text.Json.Nodes;
using Lockstep.Client;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>Makes clients tuned for tests (fast heartbeats and retries) and waits on conditions with a bound.</summary>
internal static class Harness
{
    /// <summary>
    /// The encoding the suite's clients speak: <c>LOCKSTEP_TEST_ENCODING</c> = <c>json</c> (the default) or <c>msgpack</c>,
    /// so the whole suite runs in either; the key tests also run in both explicitly (<see cref="Encodings"/>).
    /// </summary>
    public static LockstepEncoding Encoding { get; } = ParseEncoding(Environment.GetEnvironmentVariable("LOCKSTEP_TEST_ENCODING"));

    /// <summary>Both encodings, for a <c>[Theory]</c>.</summary>
    public static TheoryData<LockstepEncoding> Encodings => new(LockstepEncoding.Json, LockstepEncoding.MessagePack);

    private static LockstepEncoding ParseEncoding(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "json" => LockstepEncoding.Json,
        "msgpack" or "messagepack" => LockstepEncoding.MessagePack,
        _ => throw new InvalidOperationException($"LOCKSTEP_TEST_ENCODING='{value}': use json or msgpack."),
    };

    public static LockstepClient Client(Uri url, string? storePath = null, Action<LockstepClientOptions>? configure = null) =>
        Client([url], storePath, configure);

    public static LockstepClient Client(Uri url, LockstepEncoding encoding, string? storePath = null, Action<LockstepClientOptions>? configure = null) =>
        Client([url], storePath, o =>
        {
            o.Encoding = encoding;
            configure?.Invoke(o);
        });

    public static LockstepClient Client(IEnumerable<Uri> urls, string? storePath = null, Action<LockstepClientOptions>? configure = null)
    {
        var builder = new LockstepClientBuilder()
            .WithEncoding(Encoding)
            .WithAutomaticReconnect(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(300))
            .Configure(o =>
            {
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(250);
                o.RequestTimeout = TimeSpan.FromSeconds(2);
                o.CircuitBreakDuration = TimeSpan.FromMilliseconds(500);
            });
        foreach (var url in urls)
        {
            builder.WithUrl(url);
        }
        if (storePath is null)
        {
            builder.WithoutLocalStore();
        }
        else
        {
            builder.WithLocalStore(storePath);
        }
        builder.Configure(o => configure?.Invoke(o));
        return builder.Build();
    }

    public static string TempStore() => Path.Combine(Path.GetTempPath(), "lockstep-client-test-" + Guid.NewGuid().ToString("N"), "client.db");

    public static void DeleteStore(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Polls until the condition holds; fails the test after the timeout.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Condition not met in time" + (because is null ? "." : ": " + because));
            }
            await Task.Delay(10);
        }
    }

    public static async Task<JsonObject?> GetAsync(HttpClient http, string collection, string id)
    {
        using var response = await http.GetAsync($"/v1/collections/{collection}/docs/{id}");
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync()) as JsonObject;
    }

    public static async Task<Dictionary<string, JsonObject>> ListAsync(HttpClient http, string collection)
    {
        var all = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        string? after = null;
        do
        {
            var page = JsonNode.Parse(await http.GetStringAsync($"/v1/collections/{collection}/docs?limit=1000" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after))))!;
            foreach (var doc in page["docs"]!.AsArray())
            {
                all[(string)doc!["id"]!] = doc["doc"]!.AsObject();
            }
            after = (string?)page["next"];
        }
        while (after is not null);
        return all;
    }

    public static async Task PutAsync(HttpClient http, string collection, string id, string json)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await http.PutAsync($"/v1/collections/{collection}/docs/{id}", content);
        response.EnsureSuccessStatusCode();
    }
}
