using System.Globalization;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The real server under a low open-files limit: it sizes its connection limit to fit, and stays up at it.</summary>
public sealed partial class OpenFilesLimitTests : IDisposable
{
    private const int OpenFilesLimit = 512;
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "lockstep-fds-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [Fact]
    public async Task At_the_open_files_limit_new_connections_are_refused_and_the_ones_open_keep_working()
    {
        await using var server = await ServerProcess.StartWithOpenFilesLimitAsync(_dataDir, OpenFilesLimit, "--samples", "off");
        var clients = new List<SyncClient>();
        try
        {
            // More connections than the process has descriptors: without a limit sized to them, the
            // server runs out and aborts ("Out of memory.").
            var refused = 0;
            for (var i = 0; i < OpenFilesLimit + 100; i++)
            {
                try
                {
                    clients.Add(await SyncClient.ConnectAsync(server.SyncUrl));
                }
                catch (WebSocketException e)
                {
                    Assert.Contains("503", e.Message, StringComparison.Ordinal);
                    refused++;
                }
            }
            Assert.False(server.HasExited, "the server died at its open-files limit:\n" + string.Join("\n", server.Output.TakeLast(10)));
            Assert.True(refused >= 100, $"only {refused} connections were refused");

            var logged = server.Output.Select(l => LimitLine().Match(l)).FirstOrDefault(m => m.Success);
            Assert.True(logged is not null, "no 'connections limited to N by the open-files limit' at start:\n" + string.Join("\n", server.Output));
            Assert.Equal(int.Parse(logged.Groups["n"].Value, CultureInfo.InvariantCulture), clients.Count);
            Assert.True(Directory.GetFileSystemEntries($"/proc/{server.Pid}/fd").Length < OpenFilesLimit);

            // The connections it has still work: a write on one reaches a subscriber on another.
            var collection = Ops.Unique();
            var reader = clients[0];
            await reader.SubscribeAsync("s", collection);
            var ack = await clients[^1].MutateAsync(Ops.Put(collection, "d1", new { n = 1 }));
            Assert.Equal("ack", (string?)ack["t"]);
            await reader.WaitForAsync(f => (string?)f["t"] == "chg" && (string?)f["id"] == "d1");
            using var http = new HttpClient { BaseAddress = server.HttpUrl };
            Assert.True((await http.GetAsync(new Uri("/healthz", UriKind.Relative))).IsSuccessStatusCode);

            // Room comes back as connections close.
            foreach (var client in clients[^10..])
            {
                await client.CloseAsync();
                await client.DisposeAsync();
            }
            clients.RemoveRange(clients.Count - 10, 10);
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (true)
            {
                try
                {
                    clients.Add(await SyncClient.ConnectAsync(server.SyncUrl));
                    break;
                }
                catch (WebSocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }
            Assert.Equal("welcome", (string?)clients[^1].Welcome["t"]);
            Assert.False(server.HasExited);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [GeneratedRegex(@"Connections limited to (?<n>\d+) by the open-files limit 512")]
    private static partial Regex LimitLine();
}
