using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>The outbox on a real SQLite file, published by a real relay to the real <c>lockstep serve</c>.</summary>
public sealed class SqliteOutboxTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;
    private readonly string _serverData = Harness.TempDirectory();
    private ServerProcess? _server;

    private ServerProcess Server => _server ?? throw new InvalidOperationException("No server.");

    public async Task InitializeAsync()
    {
        _database = await SqliteServiceDatabase.CreateAsync();
        _server = await ServerProcess.StartAsync(_serverData);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        await _database.DisposeAsync();
        Directory.Delete(_serverData, recursive: true);
    }

    [Fact]
    public async Task A_rolled_back_transaction_leaves_neither_the_business_row_nor_the_outbox_row()
    {
        var outbox = new Outbox();
        await using var connection = await _database.OpenAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await Harness.ExecuteAsync(connection, transaction, "INSERT INTO orders (id, total) VALUES ('o1', 5)");
            await outbox.EnqueueAsync(transaction, [OutboxOp.Increment("orders", "totals", "count", 1)]);
            await transaction.RollbackAsync();
        }
        Assert.Equal(0, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM orders"));
        Assert.Equal(0, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox"));

        var mid = await Harness.PlaceOrderAsync(connection, outbox, "orders", "o2", 7);
        Assert.Equal(1, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM orders"));
        Assert.Equal(1, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox WHERE state = 0"));
        // The rolled-back id was never committed, so it may be drawn again; a committed one never is,
        // even once its row is deleted (AUTOINCREMENT): a mid is never reused for another mutation.
        Assert.Equal(1, mid);
        await Harness.ExecuteAsync(connection, null, "DELETE FROM lockstep_outbox");
        Assert.Equal(2, await Harness.PlaceOrderAsync(connection, outbox, "orders", "o3", 1));
    }

    [Fact]
    public async Task An_exception_before_the_commit_publishes_nothing()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var connection = await _database.OpenAsync();
        await Assert.ThrowsAsync<SqliteException>(async () =>
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await outbox.EnqueueAsync(transaction, [OutboxOp.Put(collection, "o1", new JsonObject { ["total"] = 1 })]);
            // The business write fails after the enqueue (a duplicate key): the transaction is never committed.
            await Harness.ExecuteAsync(connection, transaction, "INSERT INTO orders (id, total) VALUES ('x', 1), ('x', 2)");
            await transaction.CommitAsync();
        });
        using var relay = new OutboxRelay(Harness.Options(_database.DataSource, Server));
        Assert.Equal(default, await relay.PublishPendingAsync());
        Assert.Null(await Harness.ReadNumberAsync(Server, collection, "o1", "total"));
    }

    [Fact]
    public async Task The_relay_publishes_every_row_once_in_id_order_under_the_outbox_client_id()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        await using var connection = await _database.OpenAsync();
        var mids = new List<long>();
        for (var i = 1; i <= 30; i++)
        {
            mids.Add(await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i));
        }
        using var relay = new OutboxRelay(Harness.Options(_database.DataSource, Server));

        var summary = await relay.PublishPendingAsync();

        Assert.Equal(new OutboxPublishSummary(30, 0, 0), summary);
        Assert.Equal(30m, await Harness.ReadNumberAsync(Server, collection, "totals", "count"));
        var clientId = await OutboxSchema.GetClientIdAsync(connection);
        Assert.StartsWith("orders-service:", clientId, StringComparison.Ordinal);
        var changes = await Harness.ReadChangesAsync(Server, collection);
        // Two changes per row (the order, then the counter), the rows in id order, each once.
        Assert.Equal(60, changes.Count);
        Assert.All(changes, c => Assert.Equal(clientId, c.ClientId));
        Assert.Equal(mids, changes.Where(c => c.Id != "totals").Select(c => c.Mid));
        Assert.Equal(mids, changes.Where(c => c.Id == "totals").Select(c => c.Mid));
        Assert.Equal(0, await relay.CountPendingAsync());
        Assert.Equal(30, await Harness.ScalarAsync(connection, "SELECT COUNT(*) FROM lockstep_outbox WHERE state = 1 AND seq IS NOT NULL"));

        // A second pass finds nothing to do.
        Assert.Equal(default, await relay.PublishPendingAsync());
    }

    [Fact]
    public async Task A_refused_row_is_recorded_with_its_code_and_the_rows_after_it_are_published()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        var refusals = new List<OutboxRefusal>();
        await using var connection = await _database.OpenAsync();
        await Harness.PlaceOrderAsync(connection, outbox, collection, "o1", 1);
        long bad;
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            // inc on a text field: the server refuses it with invalid_operation, and nothing of it is written.
            bad = await outbox.EnqueueAsync(transaction, [
                OutboxOp.Increment(collection, "totals", "count", 1),
                OutboxOp.Increment(collection, "o1", "total.nested", 1),
            ]);
            await transaction.CommitAsync();
        }
        await Harness.PlaceOrderAsync(connection, outbox, collection, "o3", 3);
        var options = Harness.Options(_database.DataSource, Server);
        options.OnRefused = (refusal, _) =>
        {
            refusals.Add(refusal);
            return ValueTask.CompletedTask;
        };
        using var relay = new OutboxRelay(options);

        var summary = await relay.PublishPendingAsync();

        Assert.Equal(new OutboxPublishSummary(2, 1, 0), summary);
        Assert.Equal(2m, await Harness.ReadNumberAsync(Server, collection, "totals", "count"));
        var refused = Assert.Single(await relay.ListRefusedAsync());
        Assert.Equal(bad, refused.Id);
        Assert.Equal("invalid_operation", refused.Code);
        Assert.Contains("\"inc\"", refused.Mutation, StringComparison.Ordinal);
        Assert.Equal(refused, Assert.Single(refusals));
        Assert.Equal(0, await relay.CountPendingAsync());
        // Recorded, not retried: the next pass does nothing.
        Assert.Equal(default, await relay.PublishPendingAsync());
    }

    [Fact]
    public async Task An_enqueue_wakes_a_running_relay_that_would_otherwise_poll_once_an_hour()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        var options = Harness.Options(_database.DataSource, Server, outbox);
        options.PollInterval = TimeSpan.FromHours(1);
        using var relay = new OutboxRelay(options);
        using var stop = new CancellationTokenSource();
        var run = relay.RunAsync(stop.Token);
        await using var connection = await _database.OpenAsync();
        // The first pass at start finds nothing; from then on only enqueues can wake the relay.
        await Harness.EventuallyAsync(async () => await relay.CountPendingAsync() == 0, "the first pass");

        for (var i = 1; i <= 3; i++)
        {
            await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
            var expected = i;
            await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(Server, collection, "totals", "count") == expected, $"order {i} published");
        }

        // The enqueue wakes the relay before the commit: its passes find nothing for a while, and it
        // must still look again once the transaction commits, not an hour later.
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await outbox.EnqueueAsync(transaction, [OutboxOp.Increment(collection, "totals", "count", 1)]);
            await Task.Delay(300);
            await transaction.CommitAsync();
        }
        await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(Server, collection, "totals", "count") == 4, "a row committed after the wake-up published");

        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_host_runs_the_relay_and_hands_out_the_outbox_that_wakes_it()
    {
        var collection = Harness.NewCollection();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddLockstepOutbox((_, options) =>
        {
            options.DataSource = _database.DataSource;
            options.ServerUrl = new Uri(Server.HttpUrl, "/v1");
            options.PollInterval = TimeSpan.FromHours(1);
        });
        using var host = builder.Build();
        await host.StartAsync();
        var outbox = host.Services.GetRequiredService<Outbox>();
        await using var connection = await _database.OpenAsync();

        await Harness.PlaceOrderAsync(connection, outbox, collection, "o1", 1);

        await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(Server, collection, "totals", "count") == 1, "the order published");
        await host.StopAsync();
    }

    [Fact]
    public async Task Rows_enqueued_while_the_server_is_down_are_published_once_after_it_restarts_on_the_same_data()
    {
        var outbox = new Outbox();
        var collection = Harness.NewCollection();
        using var relay = new OutboxRelay(Harness.Options(_database.DataSource, Server, outbox));
        using var stop = new CancellationTokenSource();
        var run = relay.RunAsync(stop.Token);
        await using var connection = await _database.OpenAsync();
        for (var i = 1; i <= 5; i++)
        {
            await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
        }
        await Harness.EventuallyAsync(async () => await Harness.ReadNumberAsync(Server, collection, "totals", "count") == 5, "the first five published");

        // SIGKILL: the relay may be in the middle of a publish, and keeps retrying against a closed port.
        var port = Server.Port;
        await Server.KillAsync();
        for (var i = 6; i <= 10; i++)
        {
            await Harness.PlaceOrderAsync(connection, outbox, collection, $"o{i}", i);
        }
        Assert.True(await relay.CountPendingAsync() >= 5);
        await Server.DisposeAsync();
        _server = await ServerProcess.StartAsync(_serverData, port);

        await Harness.EventuallyAsync(async () => await relay.CountPendingAsync() == 0, "every row published after the restart");
        await stop.CancelAsync();
        await run;
        Assert.Equal(10m, await Harness.ReadNumberAsync(Server, collection, "totals", "count"));
        var changes = await Harness.ReadChangesAsync(Server, collection);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), changes.Where(c => c.Id == "totals").Select(c => c.Mid));
    }

    [Fact]
    public async Task The_outbox_keeps_its_client_id_and_refuses_a_second_name()
    {
        await using var connection = await _database.OpenAsync();
        var first = await OutboxSchema.GetClientIdAsync(connection);
        Assert.Equal(first, await OutboxSchema.EnsureCreatedAsync(connection, "orders-service"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => OutboxSchema.EnsureCreatedAsync(connection, "billing"));
        Assert.Equal(first, await OutboxSchema.GetClientIdAsync(connection));

        // A database without the outbox has no client id, and a relay over it says what to do.
        await using var empty = new SqliteConnection($"Data Source={Path.Combine(_database.Directory, "empty.db")};Pooling=False");
        Assert.Null(await OutboxSchema.GetClientIdAsync(empty));
        using var relay = new OutboxRelay(Harness.Options(SqliteFactory.Instance.CreateDataSource(empty.ConnectionString), Server));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => relay.PublishPendingAsync());
        Assert.Contains("EnsureCreatedAsync", error.Message, StringComparison.Ordinal);
    }
}
