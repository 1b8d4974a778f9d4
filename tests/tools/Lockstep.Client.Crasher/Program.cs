using System.Globalization;
using Lockstep.Client;

// Usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count> online|offline
// Queues <count> increments of <collection>/counter.n through a client with a local store (each one
// is in the store when its call returns), prints "queued", then keeps running until it is killed.
// online: connects first and prints once a tenth of them are acknowledged (the rest in flight);
// offline: prints at once, without waiting for a connection (the server may be unreachable).
if (args.Length != 5 || args[4] is not ("online" or "offline"))
{
    Console.Error.WriteLine("usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count> online|offline");
    return 2;
}
var online = args[4] == "online";
var client = new LockstepClientBuilder()
    .WithUrl(new Uri(args[0]))
    .WithLocalStore(args[1])
    .WithAutomaticReconnect(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(200))
    .Build();
if (online)
{
    await client.StartAsync();
}
else
{
    client.Start();
}
var counters = client.Collection(args[2]);
var count = int.Parse(args[3], CultureInfo.InvariantCulture);
var writes = new List<Task<WriteAck>>();
for (var i = 0; i < count; i++)
{
    writes.Add(counters.IncrementAsync("counter", "n"));
}
if (online)
{
    await writes[count / 10];
}
Console.WriteLine("queued");
Console.Out.Flush();
await Task.Delay(Timeout.Infinite);
return 0;
