using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The to-do sample, run as a user would, and the docs that quote it.</summary>
public sealed class SampleTests
{
    [Fact]
    public async Task The_todo_sample_adds_through_the_client_and_sees_another_writers_change()
    {
        await using var server = await TestServer.StartAsync();
        var store = Harness.TempStore();
        try
        {
            using var process = Processes.Start("samples/Lockstep.Samples.Todo", "Lockstep.Samples.Todo", server.SyncUrl.ToString(), store);
            var lines = new List<string>();
            async Task<string> WaitForLineAsync(Func<string, bool> match)
            {
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (DateTime.UtcNow < deadline)
                {
                    var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
                    Assert.NotNull(line);
                    lines.Add(line);
                    if (match(line))
                    {
                        return line;
                    }
                }
                throw new TimeoutException("The sample printed: " + string.Join('\n', lines));
            }

            await WaitForLineAsync(l => l == "[online]");
            await process.StandardInput.WriteLineAsync("add Buy milk");
            var added = await WaitForLineAsync(l => l.StartsWith("[ok] added ", StringComparison.Ordinal));
            var id = added.Split(' ')[2];

            var onServer = await Harness.GetAsync(server.Http, "todos", id);
            Assert.Equal("Buy milk", (string?)onServer?["title"]);
            Assert.Equal(false, (bool?)onServer?["done"]);

            // Someone else ticks it off: the sample's hook prints the remote update.
            using (var content = new StringContent("""{"done":true}""", System.Text.Encoding.UTF8, "application/merge-patch+json"))
            {
                (await server.Http.PatchAsync($"/v1/collections/todos/docs/{id}", content)).EnsureSuccessStatusCode();
            }
            await WaitForLineAsync(l => l == $"[remote] {id} v2 Changed: Buy milk (done)");

            await process.StandardInput.WriteLineAsync("list");
            await WaitForLineAsync(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("[x] Buy milk", StringComparison.Ordinal));
            await process.StandardInput.WriteLineAsync("quit");
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(15)), "the sample exits on quit");
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            Harness.DeleteStore(store);
        }
    }

    [Fact]
    public void The_quickstart_in_the_docs_is_the_sample_that_builds_and_runs()
    {
        var root = Processes.RepositoryRoot;
        var sample = File.ReadAllText(Path.Combine(root, "samples", "Lockstep.Samples.Todo", "Program.cs")).ReplaceLineEndings("\n").Trim();
        var doc = File.ReadAllText(Path.Combine(root, "docs", "client-dotnet.md")).ReplaceLineEndings("\n");
        Assert.Contains("```csharp\n" + sample + "\n```", doc, StringComparison.Ordinal);
    }
}
