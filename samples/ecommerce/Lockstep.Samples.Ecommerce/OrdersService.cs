using System.Data.Common;
using System.Text.Json.Nodes;
using Lockstep.Client;
using Lockstep.Client.Jobs;
using Lockstep.Core.Jobs;
using Microsoft.Data.Sqlite;

namespace Lockstep.Samples.Ecommerce;

/// <summary>
/// The orders service: every placed order starts a saga — accept, reserve stock, charge, confirm — that
/// compensates (refund or void the payment, release the stock, cancel the order) when a step fails.
/// It also keeps the <c>user_order_info</c> read model (orders joined with their user's name) in its
/// own SQLite file. Killed mid-saga, a restarted orders service (or another one) resumes the sagas.
/// </summary>
internal static class OrdersService
{
    public static async Task<int> RunAsync(Arguments options)
    {
        var url = options.Url;
        using var http = Shop.Http(url);
        using var jobs = new LockstepJobs(new LockstepJobsOptions { BaseUrl = new Uri(url, "/v1/") });
        var database = options.Get("db", "orders-readmodel.db");
        await CreateReadModelAsync(database);

        await using var sagas = new SagaRunner(url, "order", Steps(http, jobs), new SagaOptions
        {
            Lease = TimeSpan.FromSeconds(options.Double("lease", 3)),
            StepTimeout = TimeSpan.FromSeconds(10),
            MaxStepAttempts = 2,
            PollInterval = TimeSpan.FromMilliseconds(200),
        });
        // A consumer group turns placed orders into sagas; a redelivered order starts nothing new.
        await using var intake = new LockstepConsumer([url], "order-intake", [Shop.Orders], async (change, ct) =>
        {
            if (change.Document is { } order && (string?)order["status"] == "placed")
            {
                await sagas.StartSagaAsync(change.Id, new JsonObject { ["sku"] = (string?)order["sku"], ["quantity"] = (int)order["quantity"]!, ["total"] = (int)order["total"]! }, ct);
            }
        }, new ConsumerOptions { Lease = TimeSpan.FromSeconds(3) });
        await using var projection = new LockstepProjection([url], "user_order_info", [Shop.Users, Shop.Orders],
            async ct =>
            {
                var connection = new SqliteConnection($"Data Source={database};Default Timeout=30");
                await connection.OpenAsync(ct);
                return connection;
            },
            ApplyAsync,
            Projection());
        await sagas.StartAsync(CancellationToken.None);
        await intake.StartAsync(CancellationToken.None);
        await projection.StartAsync(CancellationToken.None);
        await intake.Joined;
        Arguments.Ready("orders");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    private static ProjectionOptions Projection()
    {
        var options = new ProjectionOptions
        {
            Reset = async (tx, ct) =>
            {
                await ExecuteAsync(tx, "DELETE FROM users_mirror", ct);
                await ExecuteAsync(tx, "DELETE FROM user_order_info", ct);
            },
        };
        options.Consumer.Lease = TimeSpan.FromSeconds(3);
        return options;
    }

    /// <summary>The order saga. Every step and compensation is idempotent per order: a resumed saga may run one again.</summary>
    private static SagaStep[] Steps(HttpClient http, LockstepJobs jobs) =>
    [
        new("accept",
            (s, ct) => Shop.PatchAsync(http, Shop.Orders, s.SagaId, new { status = "accepted" }, ct),
            (s, ct) => Shop.PatchAsync(http, Shop.Orders, s.SagaId, new { status = "cancelled" }, ct)),
        new("reserve",
            (s, ct) => Shop.CallAsync(http, "reserve", new { order = s.SagaId, sku = (string)s.Data["sku"]!, quantity = (int)s.Data["quantity"]! }, ct),
            (s, ct) => Shop.CallAsync(http, "release", new { order = s.SagaId }, ct)),
        new("charge", (s, ct) => ChargeAsync(http, jobs, s, ct), (s, ct) => RefundOrVoidAsync(http, s, ct)),
        new("confirm", (s, ct) => Shop.PatchAsync(http, Shop.Orders, s.SagaId, new { status = "completed" }, ct)),
    ];

    /// <summary>Asks the payments service (a job, at most one per order) and waits for its answer.</summary>
    private static async Task ChargeAsync(HttpClient http, LockstepJobs jobs, SagaContext saga, CancellationToken ct)
    {
        await jobs.EnqueueAsync("payments", new JsonObject { ["order"] = saga.SagaId, ["amount"] = (int)saga.Data["total"]! },
            new JobEnqueueOptions { IdempotencyKey = saga.SagaId, Lane = JobLane.High }, ct);
        while (true)
        {
            if (await Shop.GetAsync(http, Shop.Payments, saga.SagaId, ct) is { } payment)
            {
                if ((string?)payment["status"] == "charged")
                {
                    return;
                }
                throw new InvalidOperationException("payment " + (string?)payment["status"]);
            }
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Voids a payment not made yet (so the job can never charge it) or refunds one that was.</summary>
    private static async Task RefundOrVoidAsync(HttpClient http, SagaContext saga, CancellationToken ct)
    {
        if (await Shop.CreateAsync(http, Shop.Payments, saga.SagaId, new { amount = 0, status = "voided" }, ct))
        {
            return;
        }
        var payment = await Shop.GetAsync(http, Shop.Payments, saga.SagaId, ct);
        if ((string?)payment?["status"] == "charged")
        {
            await Shop.PatchAsync(http, Shop.Payments, saga.SagaId, new { status = "refunded" }, ct);
        }
    }

    private static async Task CreateReadModelAsync(string database)
    {
        await using var connection = new SqliteConnection($"Data Source={database}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS users_mirror (id TEXT PRIMARY KEY, name TEXT); "
            + "CREATE TABLE IF NOT EXISTS user_order_info (order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, user_name TEXT, sku TEXT, total INTEGER NOT NULL, status TEXT NOT NULL);";
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The read model: users mirrored, orders joined with their user's name, whichever arrives first.</summary>
    private static async Task ApplyAsync(ConsumedChange change, DbTransaction tx, CancellationToken ct)
    {
        if (change.Collection == Shop.Users)
        {
            await ExecuteAsync(tx, change.Deleted ? "DELETE FROM users_mirror WHERE id = $id"
                : "INSERT INTO users_mirror (id, name) VALUES ($id, $name) ON CONFLICT (id) DO UPDATE SET name = excluded.name", ct,
                ("$id", change.Id), ("$name", (string?)change.Document?["name"]));
            await ExecuteAsync(tx, "UPDATE user_order_info SET user_name = (SELECT name FROM users_mirror WHERE id = $id) WHERE user_id = $id", ct, ("$id", change.Id));
        }
        else if (change.Deleted)
        {
            await ExecuteAsync(tx, "DELETE FROM user_order_info WHERE order_id = $id", ct, ("$id", change.Id));
        }
        else
        {
            var order = change.Document!;
            await ExecuteAsync(tx, "INSERT INTO user_order_info (order_id, user_id, user_name, sku, total, status) "
                + "VALUES ($id, $user, (SELECT name FROM users_mirror WHERE id = $user), $sku, $total, $status) "
                + "ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id, user_name = excluded.user_name, sku = excluded.sku, total = excluded.total, status = excluded.status", ct,
                ("$id", change.Id), ("$user", (string?)order["userId"]), ("$sku", (string?)order["sku"]), ("$total", (int?)order["total"] ?? 0), ("$status", (string?)order["status"]));
        }
    }

    private static async Task ExecuteAsync(DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = tx.Connection!.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        await command.ExecuteNonQueryAsync(ct);
    }
}
