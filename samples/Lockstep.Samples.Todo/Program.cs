// A shared to-do list in the terminal: the Lockstep .NET client in one screen.
// Start a server (dotnet run --project src/Lockstep.Cli -- serve), then run this in two terminals:
//   dotnet run --project samples/Lockstep.Samples.Todo -- ws://127.0.0.1:5080/v1/sync alice.db
//   dotnet run --project samples/Lockstep.Samples.Todo -- ws://127.0.0.1:5080/v1/sync bob.db
using Lockstep.Client;

var url = new Uri(args.Length > 0 ? args[0] : "ws://127.0.0.1:5080/v1/sync");
var storeFile = args.Length > 1 ? args[1] : "todo-client.db";

await using var client = new LockstepClientBuilder()
    .WithUrl(url)
    .WithLocalStore(storeFile)        // cache and unconfirmed writes survive a restart
    .Build();
client.StateChanged += (_, state) => Console.WriteLine($"[{state.ToString().ToLowerInvariant()}]");

var todos = client.Collection<Todo>("todos");
// The seed's registerSyncHook: called for every change someone else makes, with the local state after it.
using var hook = todos.OnRemoteUpdate((delta, local) =>
    Console.WriteLine($"[remote] {delta.Id} v{delta.Version} {delta.Kind}: {local?.Title}{(local?.Done == true ? " (done)" : "")}"));
await using var all = todos.Subscribe();     // or todos.Subscribe(new { done = false })
client.Start();                               // connects in the background; writes queue meanwhile

var writes = new List<Task>();
Console.WriteLine("commands: add <title> | done <id> | rm <id> | list | quit");
while (Console.ReadLine() is { } line && line.Trim() != "quit")
{
    var parts = line.Trim().Split(' ', 2);
    var argument = parts.Length > 1 ? parts[1].Trim() : "";
    switch (parts[0])
    {
        case "add":
            var id = "t-" + Guid.NewGuid().ToString("N")[..6];
            writes.Add(ReportAsync(todos.PutAsync(id, new Todo(argument, Done: false)), $"added {id}"));
            break;
        case "done":
            writes.Add(ReportAsync(todos.PatchAsync(argument, new { done = true }), $"{argument} done"));
            break;
        case "rm":
            writes.Add(ReportAsync(todos.DeleteAsync(argument), $"removed {argument}"));
            break;
        case "list":
            // The local view: what the server said, with this client's unconfirmed writes on top.
            foreach (var (todoId, todo) in todos.Documents.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {todoId}  [{(todo.Done ? 'x' : ' ')}] {todo.Title}  (v{todos.GetVersion(todoId)})");
            }
            Console.WriteLine($"  {client.PendingCount} write(s) waiting for the server");
            break;
        default:
            Console.WriteLine("commands: add <title> | done <id> | rm <id> | list | quit");
            break;
    }
}
// Give queued writes a moment to reach the server; any still queued are sent on the next run.
await Task.WhenAny(Task.WhenAll(writes), Task.Delay(TimeSpan.FromSeconds(5)));

static async Task ReportAsync(Task<WriteAck> write, string what)
{
    try
    {
        var ack = await write;
        Console.WriteLine($"[ok] {what} (seq {ack.Seq})");
    }
    catch (LockstepException e)
    {
        Console.WriteLine($"[refused] {what}: {e.Code}: {e.Message}");
    }
    catch (ObjectDisposedException)
    {
        Console.WriteLine($"[queued] {what}: not confirmed yet; sent on the next run");
    }
}

/// <summary>A to-do item, stored as {"title": "...", "done": false}.</summary>
internal sealed record Todo(string Title, bool Done);
