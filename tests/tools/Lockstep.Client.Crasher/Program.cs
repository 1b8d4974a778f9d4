using System.Globalization;
using Lockstep.Client;

// Usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count>
// Connects, queues <count> increments of <collection>/counter.n through a client with a local store
// (each one is in the store when its call returns), waits until a tenth of them are acknowledged,
// prints "queued", then keeps running until it is killed: some writes acknowledged, some in flight.
if (args.Length != 4)
{
    Console.Error.WriteLine("usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count>");
    return 2;
}
var client = new LockstepClientBuilder()
    .WithUrl(new Uri(args[0]))
    .WithLocalStore(args[1])
    .WithAutomaticReconnect(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(200))
    .Build();
await client.StartAsync();
var counters = client.Collection(args[2]);
var count = int.Parse(args[3], CultureInfo.InvariantCulture);
var writes = new List<Task<WriteAck>>();
for (var i = 0; i < count; i++)
{
    writes.Add(counters.IncrementAsync("counter", "n"));
}
await writes[count / 10];
Console.WriteLine("queued");
Console.Out.Flush();
await Task.Delay(Timeout.Infinite);
return 0;
