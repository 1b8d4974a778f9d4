using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// docs/security.md, "What an attacker can do with each credential": every endpoint, REST and the socket,
/// walked with each kind of credential — none (anonymous), a user's token, a <c>read</c> key, a <c>write</c>
/// key, a <c>*</c> key and a token the server does not accept — and the whole table compared at once, so a
/// change of any cell shows as a diff of the table.
/// </summary>
public sealed class CredentialMatrixTests : IAsyncLifetime
{
    private static readonly string ReadKey = ApiKeys.Generate();
    private static readonly string WriteKey = ApiKeys.Generate();

    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await AuthTests.StartAsync(o =>
        {
            o.Auth.AllowAnonymous = true;
            o.Auth.ApiKeys.Add(AuthFixture.Key("reader", ReadKey, "read"));
            o.Auth.ApiKeys.Add(AuthFixture.Key("writer", WriteKey, "write"));
            o.Auth.Mutators.Add("authenticated");
        }, b => b.AddMutator("echo", (_, args, _) => ValueTask.FromResult(JsonNode.Parse(args.GetRawText()))));
        // news: read public, write role:editor; todos: owner:ownerId (AuthTests.StartAsync); plain: no rules.
        foreach (var cred in Credentials)
        {
            await SeedAsync("news", "del-" + Slug(cred.Name), new { title = "to delete" });
        }
        await SeedAsync("news", "n1", new { title = "hello" });
        await SeedAsync("todos", "t-ursula", new { ownerId = "ursula", text = "hers" });
        await SeedAsync("todos", "t-olga", new { ownerId = "olga", text = "someone else's" });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private sealed record Credential(string Name, string? Token);

    private static readonly Credential[] Credentials =
    [
        new("anonymous", null),
        new("user", AuthFixture.Jwt("ursula")),
        new("read key", ReadKey),
        new("write key", WriteKey),
        new("* key", AuthFixture.AdminKey),
        new("bad token", AuthFixture.Jwt("ursula", signing: AuthFixture.OtherHmac)),
    ];

    private async Task SeedAsync(string collection, string id, object doc)
    {
        using var response = await SendAsync(HttpMethod.Put, $"/v1/collections/{collection}/docs/{id}", AuthFixture.AdminKey, doc);
        response.EnsureSuccessStatusCode();
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = AuthFixture.Request(method, path, token, body);
        return await _server.Http.SendAsync(request);
    }

    /// <summary>The REST probes, in order (writes are to ids of the credential's own, so the rows do not interfere).</summary>
    private static (string Name, HttpMethod Method, Func<string, string> Path, Func<string, object?> Body)[] RestProbes =>
    [
        ("GET news/n1", HttpMethod.Get, _ => "/v1/collections/news/docs/n1", _ => null),
        ("list news", HttpMethod.Get, _ => "/v1/collections/news/docs", _ => null),
        ("PUT news", HttpMethod.Put, c => $"/v1/collections/news/docs/p-{c}", _ => new { title = "x" }),
        ("PATCH news", HttpMethod.Patch, _ => "/v1/collections/news/docs/n1", _ => new { seen = true }),
        ("DELETE news", HttpMethod.Delete, c => $"/v1/collections/news/docs/del-{c}", _ => null),
        ("GET own todo", HttpMethod.Get, _ => "/v1/collections/todos/docs/t-ursula", _ => null),
        ("GET other's todo", HttpMethod.Get, _ => "/v1/collections/todos/docs/t-olga", _ => null),
        ("list todos", HttpMethod.Get, _ => "/v1/collections/todos/docs", _ => null),
        ("PUT own todo", HttpMethod.Put, c => $"/v1/collections/todos/docs/p-{c}", _ => new { ownerId = "ursula", text = "x" }),
        ("PUT other's todo", HttpMethod.Put, _ => "/v1/collections/todos/docs/t-olga", _ => new { ownerId = "ursula", text = "taken" }),
        ("list plain", HttpMethod.Get, _ => "/v1/collections/plain/docs", _ => null),
        ("PUT plain", HttpMethod.Put, c => $"/v1/collections/plain/docs/p-{c}", _ => new { text = "x" }),
        ("list system", HttpMethod.Get, _ => "/v1/collections/_lockstep.groups/docs", _ => null),
        ("mutations: put", HttpMethod.Post, _ => "/v1/mutations", c => new { ops = new[] { Ops.Put("news", "m-" + c, new { title = "x" }) } }),
        ("mutations: call", HttpMethod.Post, _ => "/v1/mutations", _ => new { name = "echo", args = new { a = 1 } }),
        ("changes", HttpMethod.Get, _ => "/v1/changes", _ => null),
        ("changes news", HttpMethod.Get, _ => "/v1/changes?collections=news", _ => null),
        ("changes todos", HttpMethod.Get, _ => "/v1/changes?collections=todos", _ => null),
        ("status", HttpMethod.Get, _ => "/v1/status", _ => null),
        ("cluster", HttpMethod.Get, _ => "/v1/cluster", _ => null),
        ("group claim", HttpMethod.Post, _ => "/v1/groups/g/claim", c => new { member = "m", collections = new[] { "news" } }),
        ("group changes", HttpMethod.Get, _ => "/v1/groups/g/changes?member=m", _ => null),
        ("group commit", HttpMethod.Post, _ => "/v1/groups/g/commit", _ => new { member = "m", commits = Array.Empty<object>() }),
        ("group leave", HttpMethod.Post, _ => "/v1/groups/g/leave", _ => new { member = "m" }),
        ("enqueue job", HttpMethod.Post, _ => "/v1/queues/q/jobs", _ => new { payload = new { n = 1 } }),
        ("queue counts", HttpMethod.Get, _ => "/v1/queues/q", _ => null),
        ("claim job", HttpMethod.Post, _ => "/v1/queues/q/claim", _ => new { max = 1 }),
        ("dead letters", HttpMethod.Get, _ => "/v1/queues/q/dead", _ => null),
        ("webhooks", HttpMethod.Get, _ => "/v1/webhooks", _ => null),
        ("replay webhook", HttpMethod.Post, _ => "/v1/webhooks/none/replay", _ => new { }),
        ("healthz", HttpMethod.Get, _ => "/healthz", _ => null),
    ];

    /// <summary>
    /// What each credential gets from each REST endpoint: the status, and for the todos listing how many documents
    /// the caller saw — the user only her own (t-ursula), keys every one, including those the rows before wrote —
    /// and for the status which collections it was shown: those it may read (AuthTests.StartAsync configures
    /// admin, news, notes and todos; plain exists once the write key wrote it; no system collection exists yet).
    /// </summary>
    private const string ExpectedRest = """
        probe              | anonymous | user    | read key | write key | * key   | bad token
        GET news/n1        | 200       | 200     | 200      | 403       | 200     | 401
        list news          | 200       | 200     | 200      | 403       | 200     | 401
        PUT news           | 403       | 403     | 403      | 201       | 201     | 401
        PATCH news         | 403       | 403     | 403      | 200       | 200     | 401
        DELETE news        | 403       | 403     | 403      | 200       | 200     | 401
        GET own todo       | 403       | 200     | 200      | 403       | 200     | 401
        GET other's todo   | 403       | 404     | 200      | 403       | 200     | 401
        list todos         | 403       | 200 n=1 | 200 n=3  | 403       | 200 n=4 | 401
        PUT own todo       | 403       | 201     | 403      | 201       | 201     | 401
        PUT other's todo   | 403       | 403     | 403      | 200       | 200     | 401
        list plain         | 403       | 200     | 200      | 403       | 200     | 401
        PUT plain          | 403       | 403     | 403      | 201       | 201     | 401
        list system        | 403       | 403     | 403      | 403       | 200     | 401
        mutations: put     | 403       | 403     | 403      | 200       | 200     | 401
        mutations: call    | 403       | 200     | 403      | 200       | 200     | 401
        changes            | 200       | 200     | 200      | 200       | 200     | 401
        changes news       | 200       | 200     | 200      | 403       | 200     | 401
        changes todos      | 403       | 200     | 200      | 403       | 200     | 401
        status             | 200 news  | 200 news,notes,todos | 200 admin,news,notes,todos | 200 -     | 200 admin,news,notes,plain,todos | 401
        cluster            | 403       | 403     | 200      | 200       | 200     | 401
        group claim        | 403       | 403     | 403      | 403       | 200     | 401
        group changes      | 403       | 403     | 403      | 403       | 200     | 401
        group commit       | 403       | 403     | 403      | 403       | 200     | 401
        group leave        | 403       | 403     | 403      | 403       | 200     | 401
        enqueue job        | 403       | 403     | 403      | 201       | 201     | 401
        queue counts       | 403       | 403     | 403      | 200       | 200     | 401
        claim job          | 403       | 403     | 403      | 200       | 200     | 401
        dead letters       | 403       | 403     | 403      | 200       | 200     | 401
        webhooks           | 403       | 403     | 403      | 403       | 200     | 401
        replay webhook     | 403       | 403     | 403      | 403       | 404     | 401
        healthz            | 200       | 200     | 200      | 200       | 200     | 200
        """;

    [Fact]
    public async Task Every_REST_endpoint_answers_each_credential_as_security_md_says()
    {
        var columns = new List<List<string>>();
        foreach (var cred in Credentials)
        {
            var column = new List<string>();
            foreach (var (_, method, path, body) in RestProbes)
            {
                using var response = await SendAsync(method, path(Slug(cred.Name)), cred.Token, body(Slug(cred.Name)));
                var cell = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (response.IsSuccessStatusCode && path("") == "/v1/collections/todos/docs")
                {
                    var docs = (await response.Content.ReadFromJsonAsync<JsonObject>())!["docs"]!.AsArray();
                    cell += " n=" + docs.Count;
                }
                if (response.IsSuccessStatusCode && path("") == "/v1/status")
                {
                    var names = (await response.Content.ReadFromJsonAsync<JsonObject>())!["collections"]!.AsArray().Select(c => (string)c!["name"]!);
                    cell += " " + string.Join(",", names.DefaultIfEmpty("-"));
                }
                column.Add(cell);
            }
            columns.Add(column);
        }
        AssertTable(ExpectedRest, Table(RestProbes.Select(p => p.Name).ToList(), columns));
    }

    /// <summary>The socket: the hello, subscriptions, writes and mutator calls, as error codes or <c>ok</c>.</summary>
    private const string ExpectedSocket = """
        probe              | anonymous | user      | read key  | write key | * key     | bad token
        hello              | ok        | ok        | ok        | ok        | ok        | unauthorized
        sub news           | ok        | ok        | ok        | forbidden | ok        | -
        sub todos          | forbidden | ok n=1    | ok n=3    | forbidden | ok n=4    | -
        sub system         | forbidden | forbidden | forbidden | forbidden | ok        | -
        mut news           | forbidden | forbidden | forbidden | ok        | ok        | -
        mut own todo       | forbidden | ok        | forbidden | ok        | ok        | -
        mut other's todo   | forbidden | forbidden | forbidden | ok        | ok        | -
        call               | forbidden | ok        | forbidden | ok        | ok        | -
        """;

    private static readonly string[] SocketProbes = ["hello", "sub news", "sub todos", "sub system", "mut news", "mut own todo", "mut other's todo", "call"];

    [Fact]
    public async Task The_sync_socket_answers_each_credential_as_security_md_says()
    {
        var columns = new List<List<string>>();
        foreach (var cred in Credentials)
        {
            var slug = "s-" + Slug(cred.Name);
            await using var client = await SyncClient.ConnectAsync(_server.SyncUrl, clientId: slug, token: cred.Token);
            var column = new List<string> { Outcome(client.Welcome) };
            if (column[0] != "ok")
            {
                column.AddRange(Enumerable.Repeat("-", SocketProbes.Length - 1));
                columns.Add(column);
                continue;
            }
            column.Add(await SubscribeAsync(client, "a", "news"));
            column.Add(await SubscribeAsync(client, "b", "todos"));
            column.Add(await SubscribeAsync(client, "c", "_lockstep.webhooks"));
            column.Add(Outcome(await client.MutateAsync(Ops.Put("news", slug, new { title = "x" }))));
            column.Add(Outcome(await client.MutateAsync(Ops.Put("todos", slug, new { ownerId = "ursula", text = "x" }))));
            column.Add(Outcome(await client.MutateAsync(Ops.Patch("todos", "t-olga", new { ownerId = "olga", text = "changed" }))));
            column.Add(Outcome(await client.CallAsync("echo", new { a = 1 })));
            columns.Add(column);
        }
        AssertTable(ExpectedSocket, Table(SocketProbes, columns));
    }

    private static async Task<string> SubscribeAsync(SyncClient client, string sub, string collection)
    {
        var reply = await client.RequestAsync(new JsonObject { ["t"] = "sub", ["sub"] = sub, ["collection"] = collection });
        if ((string?)reply["t"] == "error")
        {
            return Outcome(reply);
        }
        // The snapshot of what the caller may see.
        await client.WaitForAsync(f => (string?)f["t"] == "snapshot" && (string?)f["sub"] == sub && (bool?)f["last"] == true);
        return collection == "todos" ? "ok n=" + client.Views[sub].Count : "ok";
    }

    private static void AssertTable(string expected, string actual) =>
        Assert.True(Normalize(expected) == actual, $"expected:\n{Normalize(expected)}\nactual:\n{actual}");

    private static string Outcome(JsonObject reply) => (string?)reply["t"] == "error" ? (string)reply["code"]! : "ok";

    private static string Slug(string name) => new(name.Where(char.IsAsciiLetterOrDigit).ToArray());

    private static string Table(IReadOnlyList<string> probes, List<List<string>> columns)
    {
        List<string[]> rows = [["probe", .. Credentials.Select(c => c.Name)]];
        for (var i = 0; i < probes.Count; i++)
        {
            rows.Add([probes[i], .. columns.Select(c => c[i])]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendLine(string.Join(" | ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
        return text.ToString();
    }

    /// <summary>The expected table, re-padded the way <see cref="Table"/> pads, so its columns need not line up by hand.</summary>
    private static string Normalize(string table)
    {
        var rows = table.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split('|').Select(cell => cell.Trim()).ToArray())
            .ToList();
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendLine(string.Join(" | ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
        return text.ToString();
    }
}
