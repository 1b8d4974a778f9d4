using Lockstep.Outbox;
using Microsoft.Data.Sqlite;

// Usage: Lockstep.Outbox.Relay <sqlite-path> <server-rest-url>
// Runs an outbox relay over the SQLite file until it is killed; prints "running" once started.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Lockstep.Outbox.Relay <sqlite-path> <server-rest-url>");
    return 2;
}
var connectionString = new SqliteConnectionStringBuilder { DataSource = args[0] }.ToString();
using var relay = new OutboxRelay(new OutboxRelayOptions
{
    DataSource = SqliteFactory.Instance.CreateDataSource(connectionString),
    ServerUrl = new Uri(args[1]),
    PollInterval = TimeSpan.FromMilliseconds(50),
    RetryBaseDelay = TimeSpan.FromMilliseconds(20),
    RetryMaxDelay = TimeSpan.FromMilliseconds(200),
});
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
var run = relay.RunAsync(stop.Token);
Console.WriteLine("running");
Console.Out.Flush();
await run;
return 0;
