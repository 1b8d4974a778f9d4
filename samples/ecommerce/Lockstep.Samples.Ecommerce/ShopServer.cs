using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lockstep.Samples.Ecommerce;

/// <summary>
/// The Lockstep server of the shop: the embedded host (AddLockstep, SQLite, MapLockstep) with the
/// inventory's two mutators. They run on the sequencer, one at a time and atomically, so stock can
/// never be oversold, and each is idempotent per order, so a saga may call them again after a crash.
/// </summary>
internal static class ShopServer
{
    public static async Task<int> RunAsync(Arguments options)
    {
        var data = options.Get("data", "ecommerce-data");
        Directory.CreateDirectory(data);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{options.Int("port", 5090)}");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddLockstep(o => o.Auth.OpenToAnyone()) // loopback only; configure keys to go further (docs/security.md)
            .AddSqliteStore(Path.Combine(data, "lockstep.db"))
            .AddMutator("reserve", ReserveAsync)
            .AddMutator("release", ReleaseAsync);
        await using var app = builder.Build();
        app.MapLockstep("/v1");
        await app.StartAsync();
        Arguments.Ready("server");
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Reserves an order's quantity once; refused with <c>out_of_stock</c> rather than going below zero.</summary>
    private static async ValueTask<JsonNode?> ReserveAsync(MutatorContext context, JsonElement args, CancellationToken ct)
    {
        var order = args.GetProperty("order").GetString()!;
        var sku = args.GetProperty("sku").GetString()!;
        var quantity = args.GetProperty("quantity").GetInt32();
        if (await context.GetAsync(Shop.Reservations, order, ct) is { } reservation)
        {
            // Called again for the same order: what was decided stands.
            return (string?)reservation["status"] == "reserved" ? null : throw new MutationRejectedException("released", "The order's reservation was released.");
        }
        var available = (int?)(await context.GetAsync(Shop.Inventory, sku, ct))?["available"] ?? 0;
        if (available < quantity)
        {
            MutatorContext.Reject("out_of_stock", $"{available} {sku} left.");
        }
        await context.IncrementAsync(Shop.Inventory, sku, "available", -quantity, ct);
        await context.PutAsync(Shop.Reservations, order, new JsonObject { ["sku"] = sku, ["quantity"] = quantity, ["status"] = "reserved" }, cancellationToken: ct);
        return null;
    }

    /// <summary>Gives an order's reservation back once; a release before any reserve is remembered, so a late reserve cannot take stock.</summary>
    private static async ValueTask<JsonNode?> ReleaseAsync(MutatorContext context, JsonElement args, CancellationToken ct)
    {
        var order = args.GetProperty("order").GetString()!;
        var reservation = await context.GetAsync(Shop.Reservations, order, ct);
        if (reservation is null)
        {
            await context.PutAsync(Shop.Reservations, order, new JsonObject { ["status"] = "released" }, cancellationToken: ct);
        }
        else if ((string?)reservation["status"] == "reserved")
        {
            await context.IncrementAsync(Shop.Inventory, (string)reservation["sku"]!, "available", (int)reservation["quantity"]!, ct);
            reservation["status"] = "released";
            await context.PutAsync(Shop.Reservations, order, reservation, cancellationToken: ct);
        }
        return null;
    }
}
