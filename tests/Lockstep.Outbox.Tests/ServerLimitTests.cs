using System.Collections.Concurrent;
using System.Text.Json;
using Lockstep.Server.Tests;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>The relay against a real server configured tight: its rate limit, and its retention of mutation records (the exactly-once window).</summary>
public sealed class ServerLimitTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;
    private readonly string _serverData = Harness.TempDirectory();

    public async Task InitializeAsync() => _database = await SqliteServiceDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        await _database.DisposeAsync();
        Directory.Delete(_serverData, recursive: true);
    }

    [Fact]
    public async Task Rows_answered_rate_limited_are_retried_until_each_is_applied_once()
    {
        await using var server = await ServerProcess.StartAsync(_serverData, new Dictionary<string, string>
        {
            ["Lockstep__RateLimitPerSecond"] = "20",
            ["Lockstep__RateLimitBurst"] = "2",
        }, port: null);
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var connection = await _database.OpenAsync();
        for (var i = 1; i <= 20; i++)
        {
            await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
        }
        var logger = new ListLogger();
        using var relay = new OutboxRelay(Harness.Options(_database.DataSource, server), logger);

        Assert.Equal(new OutboxPublishSummary(20, 0, 0), await relay.PublishPendingAsync());

        Assert.Contains(logger.Events, e => e.Id == 6005 && e.Message.Contains("rate_limited", StringComparison.Ordinal));
        Assert.Equal(20m, await Harness.ReadNumberAsync(server, collection, "totals", "count"));
        var changes = await Harness.ReadChangesAsync(server, collection);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), changes.Where(c => c.Id == "totals").Select(c => c.Mid));
    }

    [Fact]
    public async Task Past_the_servers_retention_a_republished_row_is_applied_again_which_is_the_documented_window()
    {
        await using var server = await ServerProcess.StartAsync(_serverData, new Dictionary<string, string>
        {
            ["Lockstep__RetainedChanges"] = "1",
            ["Lockstep__CompactionInterval"] = "00:00:00.100",
        }, port: null);
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var connection = await _database.OpenAsync();
        using var relay = new OutboxRelay(Harness.Options(_database.DataSource, server));
        var first = await Harness.PlaceOrderAsync(connection, outbox, collection, "o1", 1);
        await relay.PublishPendingAsync();

        // A relay that stopped before marking (simulated by unmarking): within retention, no effect.
        await Unmark(connection, first);
        Assert.Equal(new OutboxPublishSummary(1, 0, 1), await relay.PublishPendingAsync());
        Assert.Equal(1m, await Harness.ReadNumberAsync(server, collection, "totals", "count"));

        // More changes, and compaction past the first row's changes: its record is gone.
        await Harness.PlaceOrderAsync(connection, outbox, collection, "o2", 2);
        await relay.PublishPendingAsync();
        var firstSeq = await Harness.ScalarAsync(connection, $"SELECT seq FROM lockstep_outbox WHERE id = {first}");
        await Harness.EventuallyAsync(async () => await HorizonAsync(server) >= firstSeq, "compaction past the first row");

        await Unmark(connection, first);
        Assert.Equal(new OutboxPublishSummary(1, 0, 0), await relay.PublishPendingAsync());
        // Applied a second time: exactly-once holds only while the server keeps the record.
        Assert.Equal(3m, await Harness.ReadNumberAsync(server, collection, "totals", "count"));
    }

    private static Task Unmark(System.Data.Common.DbConnection connection, long id) =>
        Harness.ExecuteAsync(connection, null, $"UPDATE lockstep_outbox SET state = 0 WHERE id = {id}");

    private static async Task<long> HorizonAsync(ServerProcess server)
    {
        using var response = await Harness.GetAsync(server, "/v1/status");
        using var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return status.RootElement.GetProperty("horizon").GetInt64();
    }

    private sealed class ListLogger : ILogger<OutboxRelay>
    {
        public ConcurrentQueue<(int Id, string Message)> Events { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Events.Enqueue((eventId.Id, formatter(state, exception)));
    }
}
