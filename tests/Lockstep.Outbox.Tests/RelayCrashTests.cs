using System.Diagnostics;
using Lockstep.Server.Tests;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>A relay process killed between publishing a row and marking it, then a new relay over the same file.</summary>
public sealed class RelayCrashTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;
    private readonly string _serverData = Harness.TempDirectory();
    private ServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        _database = await SqliteServiceDatabase.CreateAsync();
        _server = await ServerProcess.StartAsync(_serverData);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _database.DisposeAsync();
        Directory.Delete(_serverData, recursive: true);
    }

    [Fact]
    public async Task A_relay_killed_after_publishing_but_before_marking_does_not_apply_the_row_twice()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var connection = await _database.OpenAsync();
        for (var i = 1; i <= 5; i++)
        {
            await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
        }

        // Hold SQLite's write lock: the relay process can read the pending rows (WAL) and publish the
        // first one, but its UPDATE marking it published waits on the lock. That is the window.
        await using var locker = await _database.OpenAsync();
        var hold = (SqliteTransaction)await locker.BeginTransactionAsync();
        await Harness.ExecuteAsync(locker, hold, "INSERT INTO orders (id, total) VALUES ('lock', 0)");

        var relay = Start(_database.Path, new Uri(_server.HttpUrl, "/v1/"));
        try
        {
            Assert.Equal("running", await relay.StandardOutput.ReadLineAsync());
            await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(_server, collection, "totals", "count") == 1, "the first row applied");
        }
        finally
        {
            relay.Kill(entireProcessTree: true);
            await relay.WaitForExitAsync();
            relay.Dispose();
        }
        await hold.RollbackAsync();
        await hold.DisposeAsync();
        // Applied on the server, but still pending here: the relay died before marking it.
        Assert.Equal(5, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox WHERE state = 0"));
        Assert.Equal(1m, await Harness.ReadNumberAsync(_server, collection, "totals", "count"));

        using var restarted = new OutboxRelay(Harness.Options(_database.DataSource, _server));
        var summary = await restarted.PublishPendingAsync();

        // The first row is sent again, recognised by (client id, mid) and answered with its original result.
        Assert.Equal(new OutboxPublishSummary(5, 0, 1), summary);
        Assert.Equal(5m, await Harness.ReadNumberAsync(_server, collection, "totals", "count"));
        var changes = await Harness.ReadChangesAsync(_server, collection);
        Assert.Equal([1L, 2, 3, 4, 5], changes.Where(c => c.Id == "totals").Select(c => c.Mid));
    }

    private static Process Start(string databasePath, Uri serverUrl)
    {
        // tests/Lockstep.Outbox.Tests/bin/<Configuration>/net10.0 → tests/tools/Lockstep.Outbox.Relay/bin/<Configuration>/net10.0
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
        var root = baseDir;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Lockstep.slnx")))
        {
            root = root.Parent;
        }
        var dll = Path.Combine(root!.FullName, "tests", "tools", "Lockstep.Outbox.Relay", "bin", baseDir.Parent!.Name, baseDir.Name, "Lockstep.Outbox.Relay.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("Build tests/tools/Lockstep.Outbox.Relay first.", dll);
        }
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add(databasePath);
        info.ArgumentList.Add(serverUrl.AbsoluteUri);
        var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }
}
