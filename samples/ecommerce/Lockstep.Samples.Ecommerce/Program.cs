using Lockstep.Samples.Ecommerce;

// The e-commerce sample (docs/microservices.md, "The e-commerce sample"): a Lockstep server with the
// inventory's mutators, and users, inventory, payments and orders as separate processes.
//   dotnet run --project samples/ecommerce/Lockstep.Samples.Ecommerce -- all [--port 5090] [--data ./ecommerce-data]
// starts them all; each role also runs alone: server | users | inventory | payments | orders | place.
var options = Arguments.Parse(args);
return options.Role switch
{
    "all" => await Launcher.RunAsync(options),
    "server" => await ShopServer.RunAsync(options),
    "users" => await UsersService.RunAsync(options),
    "inventory" => await InventoryService.RunAsync(options),
    "payments" => await PaymentsService.RunAsync(options),
    "orders" => await OrdersService.RunAsync(options),
    "place" => await Shop.PlaceOrdersAsync(options),
    _ => Arguments.Usage(),
};
