using System.Globalization;
using Lockstep.Client;
using Microsoft.Data.Sqlite;

if (args.Length == 6 && args[0] == "consume")
{
    return await Consume(args);
}

// Usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count> online|offline
// Queues <count> increments of <collection>/counter.n through a client with a local store (each one
// is in the store when its call returns), prints "queued", then keeps running until it is killed.
// online: connects first and prints once a tenth of them are acknowledged (the rest in flight);
// offline: prints at once, without waiting for a connection (the server may be unreachable).
// Usage: Lockstep.Client.Crasher job <api-url> <queue> <lease-ms>
// Runs a job worker (concurrency 1) whose handler prints "started <id> <token>" and never returns,
// extending its lease while it lives: the test kills it mid-job and expects the job redelivered.
if (args is ["job", var apiUrl, var queue, var leaseMs])
{
    using var jobs = new Lockstep.Client.Jobs.LockstepJobs(new Lockstep.Client.Jobs.LockstepJobsOptions { BaseUrl = new Uri(apiUrl) });
    await using var worker = new Lockstep.Client.Jobs.JobWorker(jobs, async (job, ct) =>
    {
        Console.WriteLine($"started {job.Id} {job.Job.Token}");
        Console.Out.Flush();
        await Task.Delay(Timeout.Infinite, ct);
    }, new Lockstep.Client.Jobs.JobWorkerOptions
    {
        Queue = queue,
        LeaseDuration = TimeSpan.FromMilliseconds(int.Parse(leaseMs, CultureInfo.InvariantCulture)),
        ClaimWait = TimeSpan.FromSeconds(5),
    });
    await worker.StartAsync(CancellationToken.None);
    await Task.Delay(Timeout.Infinite);
    return 0;
}
if (args.Length != 5 || args[4] is not ("online" or "offline"))
{
    Console.Error.WriteLine("usage: Lockstep.Client.Crasher <sync-url> <store-path> <collection> <count> online|offline");
    return 2;
}
var online = args[4] == "online";
var client = new LockstepClientBuilder()
    .WithUrl(new Uri(args[0]))
    .WithLocalStore(args[1])
    // The encoding the test suite runs in (it passes its environment on).
    .WithEncoding(Environment.GetEnvironmentVariable("LOCKSTEP_TEST_ENCODING") is "msgpack" ? LockstepEncoding.MessagePack : LockstepEncoding.Json)
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

// Usage: Lockstep.Client.Crasher consume <server-url> <group> <collection> <sqlite-path> <member>
// A consumer group member whose handler applies each change to a SQLite file exactly once: in one
// transaction it records the change in the inbox and, the first time only, adds one to the document's
// total; every delivery (duplicates too) is logged. Prints "joined", then runs until it is killed.
static async Task<int> Consume(string[] args)
{
    var path = args[4];
    await using var consumer = new LockstepConsumer([new Uri(args[1])], args[2], [args[3]], async (change, ct) =>
    {
        await using var connection = new SqliteConnection($"Data Source={path};Default Timeout=30");
        await connection.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, ct);
        await using (var log = connection.CreateCommand())
        {
            log.Transaction = tx;
            log.CommandText = "INSERT INTO deliveries (seq, member) VALUES ($s, $m)";
            log.Parameters.AddWithValue("$s", change.Seq);
            log.Parameters.AddWithValue("$m", args[5]);
            await log.ExecuteNonQueryAsync(ct);
        }
        if (await LockstepInbox.TryMarkAsync(tx, change, ct))
        {
            await using var effect = connection.CreateCommand();
            effect.Transaction = tx;
            effect.CommandText = "INSERT INTO totals (id, n) VALUES ($id, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1";
            effect.Parameters.AddWithValue("$id", change.Id);
            await effect.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }, new ConsumerOptions { Member = args[5], Lease = TimeSpan.FromSeconds(2), Partitions = 8, CommitInterval = TimeSpan.FromMilliseconds(300) });
    await consumer.StartAsync(CancellationToken.None);
    await consumer.Joined;
    Console.WriteLine("joined");
    Console.Out.Flush();
    await Task.Delay(Timeout.Infinite);
    return 0;
}

