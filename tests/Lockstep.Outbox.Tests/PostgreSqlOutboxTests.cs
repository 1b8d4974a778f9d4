using Lockstep.Server.Tests;
using Lockstep.Storage.Tests;
using Npgsql;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>The outbox in a real PostgreSQL database (see <see cref="PostgreSqlTestDatabase"/>), published to the real server.</summary>
public sealed class PostgreSqlOutboxTests : IAsyncLifetime
{
    private PostgreSqlTestDatabase _database = null!;
    private NpgsqlDataSource _dataSource = null!;

    public async Task InitializeAsync()
    {
        _database = await PostgreSqlTestDatabase.CreateAsync();
        _dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_database.ConnectionString) { Pooling = false }.ConnectionString);
        await using var connection = await _dataSource.OpenConnectionAsync();
        await Harness.ExecuteAsync(connection, null, "CREATE TABLE orders (id text PRIMARY KEY, total integer NOT NULL)");
        await OutboxSchema.EnsureCreatedAsync(connection, "orders-service");
    }

    public async Task DisposeAsync()
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_rolled_back_transaction_leaves_neither_the_business_row_nor_the_outbox_row()
    {
        var outbox = new Outbox();
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await Harness.ExecuteAsync(connection, transaction, "INSERT INTO orders (id, total) VALUES ('o1', 5)");
            await outbox.EnqueueAsync(transaction, [OutboxOp.Increment("orders", "totals", "count", 1)]);
            await transaction.RollbackAsync();
        }
        Assert.Equal(0, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM orders"));
        Assert.Equal(0, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox"));

        await Harness.PlaceOrderAsync(connection, outbox, "orders", "o2", 7);
        Assert.Equal(1, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM orders"));
        Assert.Equal(1, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox WHERE state = 0"));
    }

    [Fact]
    public async Task Concurrent_enqueues_commit_in_id_order_so_a_later_id_is_never_published_before_an_earlier_one()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var first = await _dataSource.OpenConnectionAsync();
        await using var second = await _dataSource.OpenConnectionAsync();
        await using var observer = await _dataSource.OpenConnectionAsync();

        // The first transaction draws its id and stays open ...
        await using var firstTransaction = await first.BeginTransactionAsync();
        var firstId = await outbox.EnqueueAsync(firstTransaction, [OutboxOp.Patch(collection, "order", new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["status"] = "placed" })]);

        // ... so the second, which would otherwise draw the next id and commit first, waits for it at its enqueue.
        var secondCommit = Task.Run(async () =>
        {
            await using var transaction = await second.BeginTransactionAsync();
            var id = await outbox.EnqueueAsync(transaction, [OutboxOp.Patch(collection, "order", new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["status"] = "shipped" })]);
            await transaction.CommitAsync();
            return id;
        });
        await Harness.EventuallyAsync(async () =>
            await Harness.ScalarAsync(observer, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 1, "the second enqueue waiting");
        Assert.False(secondCommit.IsCompleted);
        Assert.Equal(0, await Harness.ScalarAsync(observer, "SELECT COUNT(*) FROM lockstep_outbox"));

        await firstTransaction.CommitAsync();
        var secondId = await secondCommit;
        Assert.True(secondId > firstId);

        var serverData = Harness.TempDirectory();
        try
        {
            await using var server = await ServerProcess.StartAsync(serverData);
            using var relay = new OutboxRelay(Harness.Options(_dataSource, server));
            Assert.Equal(new OutboxPublishSummary(2, 0, 0), await relay.PublishPendingAsync());
            var changes = await Harness.ReadChangesAsync(server, collection);
            Assert.Equal([firstId, secondId], changes.Select(c => c.Mid));
        }
        finally
        {
            Directory.Delete(serverData, recursive: true);
        }
    }

    [Fact]
    public async Task The_relay_publishes_every_row_once_through_a_server_restart()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        var serverData = Harness.TempDirectory();
        var server = await ServerProcess.StartAsync(serverData);
        try
        {
            using var relay = new OutboxRelay(Harness.Options(_dataSource, server, outbox));
            using var stop = new CancellationTokenSource();
            var run = relay.RunAsync(stop.Token);
            await using var connection = await _dataSource.OpenConnectionAsync();
            for (var i = 1; i <= 5; i++)
            {
                await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
            }
            await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(server, collection, "totals", "count") == 5, "the first five published");

            var port = server.Port;
            await server.DisposeAsync();
            for (var i = 6; i <= 10; i++)
            {
                await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
            }
            server = await ServerProcess.StartAsync(serverData, port);

            await Harness.EventuallyAsync(async () => await relay.CountPendingAsync() == 0, "every row published after the restart");
            await stop.CancelAsync();
            await run;
            Assert.Equal(10m, await Harness.ReadNumberAsync(server, collection, "totals", "count"));
            var changes = await Harness.ReadChangesAsync(server, collection);
            Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), changes.Where(c => c.Id == "totals").Select(c => c.Mid));
            Assert.All(changes, c => Assert.StartsWith("orders-service:", c.ClientId, StringComparison.Ordinal));
        }
        finally
        {
            await server.DisposeAsync();
            Directory.Delete(serverData, recursive: true);
        }
    }

    [Fact]
    public async Task Schema_creation_from_several_processes_at_once_agrees_on_one_client_id()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            await using var connection = await _dataSource.OpenConnectionAsync();
            return await OutboxSchema.EnsureCreatedAsync(connection, "orders-service");
        }));
        Assert.Single(ids.Distinct(StringComparer.Ordinal));
    }
}
