using Lockstep.Client;

namespace Lockstep.Samples.Ecommerce;

/// <summary>
/// The inventory service: puts the stock in (once), then follows reservations through a consumer group
/// and reports what runs low. Reserving itself is the server's <c>reserve</c> mutator (atomic).
/// </summary>
internal static class InventoryService
{
    public static async Task<int> RunAsync(Arguments options)
    {
        using var http = Shop.Http(options.Url);
        foreach (var sku in Shop.Skus)
        {
            await Shop.CreateAsync(http, Shop.Inventory, sku, new { available = options.Int("stock", 10) });
        }
        await using var watcher = new LockstepConsumer([options.Url], "inventory-watch", [Shop.Inventory], (change, _) =>
        {
            if ((int?)change.Document?["available"] is < 3 and var left)
            {
                Console.WriteLine($"inventory: {change.Id} is low ({left} left)");
            }
            return ValueTask.CompletedTask;
        });
        await watcher.StartAsync(CancellationToken.None);
        await watcher.Joined;
        Arguments.Ready("inventory");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}
