using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>
/// samples/ecommerce as a user runs it: the server and the users, inventory, payments and orders
/// services as processes; many orders at once against scarce stock, and the orders service (which runs
/// the sagas) SIGKILLed mid-way and started again.
/// </summary>
public sealed class EcommerceSampleTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Project = "samples/ecommerce/Lockstep.Samples.Ecommerce";
    private const string Assembly = "Lockstep.Samples.Ecommerce";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<Process> StartAsync(List<Process> processes, params string[] args)
    {
        var process = Processes.Start(Project, Assembly, args);
        processes.Add(process);
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(args[0] + " ready", line);
        _ = process.StandardOutput.ReadToEndAsync(); // keep the pipe drained
        return process;
    }

    [Fact]
    public async Task Orders_against_scarce_stock_all_end_completed_or_compensated_through_a_crash_of_the_orders_service()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-shop-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var port = FreePort().ToString(CultureInfo.InvariantCulture);
        var url = $"http://127.0.0.1:{port}";
        var readModel = Path.Combine(dir, "orders-readmodel.db");
        var processes = new List<Process>();
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await StartAsync(processes, "server", "--port", port, "--data", Path.Combine(dir, "data"));
            var users = await StartAsync(processes, "users", "--url", url, "--count", "10", "--rename-every", "0.3");
            await StartAsync(processes, "inventory", "--url", url, "--stock", "5");
            await StartAsync(processes, "payments", "--url", url, "--fail-rate", "0.3");
            var orders = await StartAsync(processes, "orders", "--url", url, "--db", readModel, "--lease", "2");

            // 60 orders at once for 15 units of stock.
            var random = new Random(3);
            string[] skus = ["book", "lamp", "mug"];
            await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/orders/docs/order-{i}")
                {
                    Content = JsonContent.Create(new { userId = "u" + (i % 10), sku = skus[i % 3], quantity = 1, total = 10 + i, status = "placed" }),
                };
                (await http.SendAsync(request)).EnsureSuccessStatusCode();
            }));

            // The orders service dies mid-sagas (SIGKILL) and is started again.
            await Harness.EventuallyAsync(() => Ended().Result >= 10, TimeSpan.FromSeconds(60), "some sagas ended");
            orders.Kill(entireProcessTree: true);
            await orders.WaitForExitAsync();
            var endedAtKill = await Ended();
            await StartAsync(processes, "orders", "--url", url, "--db", readModel, "--lease", "2");
            await Harness.EventuallyAsync(() => Ended().Result == 60, TimeSpan.FromSeconds(90), "every saga ended");

            var sagas = await Harness.ListAsync(http, "sagas");
            var completed = sagas.Where(s => (string?)s.Value["status"] == "completed").Select(s => s.Key).ToHashSet();
            var compensated = sagas.Where(s => (string?)s.Value["status"] == "compensated").Select(s => s.Key).ToHashSet();
            output.WriteLine($"{completed.Count} completed, {compensated.Count} compensated; {endedAtKill} had ended when the orders service was killed");
            Assert.Equal(60, completed.Count + compensated.Count);
            Assert.InRange(completed.Count, 1, 15);

            // Stock never below zero: what is left is what was there less what completed orders took.
            var allOrders = await Harness.ListAsync(http, "orders");
            foreach (var (sku, doc) in await Harness.ListAsync(http, "inventory"))
            {
                Assert.Equal(5 - completed.Count(id => (string?)allOrders[id]["sku"] == sku), (int)doc["available"]!);
            }
            var reservations = await Harness.ListAsync(http, "reservations");
            Assert.Equal(completed.Order(), reservations.Where(r => (string?)r.Value["status"] == "reserved").Select(r => r.Key).Order());

            // Paid exactly for what completed, once each: a payment is written once and only a refund changes it.
            var payments = await Harness.ListAsync(http, "payments");
            Assert.Equal(completed.Order(), payments.Where(p => (string?)p.Value["status"] == "charged").Select(p => p.Key).Order());
            Assert.All(compensated, id => Assert.True(!payments.TryGetValue(id, out var p) || (string?)p["status"] is "declined" or "voided" or "refunded", id));
            using (var list = await http.GetAsync("/v1/collections/payments/docs?limit=1000"))
            {
                var listed = (await list.Content.ReadFromJsonAsync<JsonObject>())!["docs"]!.AsArray();
                Assert.All(listed, p => Assert.Equal((string?)p!["doc"]!["status"] == "refunded" ? 2 : 1, (int)p["v"]!));
            }
            Assert.All(completed, id => Assert.Equal("completed", (string?)allOrders[id]["status"]));
            Assert.All(compensated, id => Assert.Equal("cancelled", (string?)allOrders[id]["status"]));

            // The projection says what the sources say (once renames stop).
            users.Kill(entireProcessTree: true);
            await users.WaitForExitAsync();
            var expected = await ExpectedAsync(http);
            await Harness.EventuallyAsync(() => ReadModel(readModel) == expected, TimeSpan.FromSeconds(30), "user_order_info equal to the sources");
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
                process.Dispose();
            }
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }

        async Task<int> Ended() => (await Harness.ListAsync(http, "sagas")).Count(s => (string?)s.Value["status"] is "completed" or "compensated");
    }

    private static async Task<string> ExpectedAsync(HttpClient http)
    {
        var names = (await Harness.ListAsync(http, "users")).ToDictionary(u => u.Key, u => (string?)u.Value["name"]);
        return string.Join('\n', (await Harness.ListAsync(http, "orders")).Select(o =>
        {
            var user = (string)o.Value["userId"]!;
            return $"{o.Key}|{user}|{names.GetValueOrDefault(user)}|{(string?)o.Value["sku"]}|{(int)o.Value["total"]!}|{(string?)o.Value["status"]}";
        }).Order(StringComparer.Ordinal));
    }

    private static string ReadModel(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Default Timeout=30");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT order_id, user_id, user_name, sku, total, status FROM user_order_info";
        using var reader = command.ExecuteReader();
        var lines = new List<string>();
        while (reader.Read())
        {
            lines.Add(string.Join('|', reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2), reader.IsDBNull(3) ? "" : reader.GetString(3),
                reader.GetInt64(4).ToString(CultureInfo.InvariantCulture), reader.GetString(5)));
        }
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }
}
