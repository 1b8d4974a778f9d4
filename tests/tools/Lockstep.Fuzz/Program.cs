using System.Diagnostics;
using System.Globalization;
using Lockstep.Fuzz;

// Usage: Lockstep.Fuzz --decoder [frames=1000000] [seed=1]
// Hostile MessagePack frames straight into the decoder, in this process (MessagePackDecoderFuzz):
// counts by outcome, time, slowest frame, managed heap; exit code 1 on any bug, 3 on a hang.
if (args.Length > 0 && args[0] == "--decoder")
{
    return DecoderRun.Run(
        args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000,
        args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1);
}

// Usage: Lockstep.Fuzz [--msgpack] <ws://host:port/v1/sync> [frames=1000000] [connections=8] [seed=1] [server-pid] [rest-requests=frames/20]
// With --msgpack the connections speak lockstep.v1.msgpack and send MessagePackFuzzDriver's binary
// frames (and no REST pass runs: REST has one encoding).
// Sends fuzzed frames over several connections at once, and fuzzed REST requests (bodies, filters,
// foreign Host and Origin, upgrades) alongside, and prints what came back. With the server's PID it
// also samples the server's resident memory: at start, after 60,000 frames, and at the end. Exit
// code 1 on any problem.
var msgpack = args.Length > 0 && args[0] == "--msgpack";
if (msgpack)
{
    args = args[1..];
}
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Lockstep.Fuzz --decoder [frames] [seed] | Lockstep.Fuzz [--msgpack] <ws://host:port/v1/sync> [frames=1000000] [connections=8] [seed=1] [server-pid] [rest-requests=frames/20]");
    return 2;
}
var url = new Uri(args[0]);
var frames = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
var connections = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
Process? server = args.Length > 4 && args[4] != "-" ? Process.GetProcessById(int.Parse(args[4], CultureInfo.InvariantCulture)) : null;
var restRequests = args.Length > 5 ? long.Parse(args[5], CultureInfo.InvariantCulture) : msgpack ? 0 : frames / 20;
var httpUrl = new UriBuilder(url) { Scheme = url.Scheme == "wss" ? "https" : "http", Path = "/" }.Uri;

long Rss()
{
    server!.Refresh();
    return server.WorkingSet64 / (1 << 20);
}
var before = server is null ? 0 : Rss();
long? at60k = null;
using var sampling = new CancellationTokenSource();
var sampler = server is null ? Task.CompletedTask : Task.Run(async () =>
{
    while (!sampling.IsCancellationRequested && at60k is null)
    {
        if (FuzzDriver.Sent >= 60_000)
        {
            at60k = Rss();
        }
        await Task.Delay(100);
    }
});
var clock = Stopwatch.StartNew();
var socketRuns = Enumerable.Range(0, connections).Select(c => msgpack
    ? MessagePackFuzzDriver.RunAsync(url, seed * 1000 + c, frames / connections, TimeSpan.FromSeconds(5), 1 << 20, CancellationToken.None)
    : FuzzDriver.RunAsync(url, seed * 1000 + c, frames / connections, TimeSpan.FromSeconds(5), 1 << 20, CancellationToken.None)).ToList();
var restRun = RestFuzzDriver.RunAsync(httpUrl, seed, restRequests, TimeSpan.FromSeconds(10), CancellationToken.None);
var total = new FuzzReport();
foreach (var report in await Task.WhenAll(socketRuns))
{
    total.Add(report);
}
var elapsed = clock.Elapsed;
var rest = await restRun;
await sampling.CancelAsync();
await sampler;
Console.WriteLine($"socket{(msgpack ? " (lockstep.v1.msgpack)" : "")}: {total} in {elapsed.TotalSeconds:F0} s ({total.Frames / elapsed.TotalSeconds:F0} frames/s)");
if (restRequests > 0)
{
    Console.WriteLine($"REST: {rest} in {clock.Elapsed.TotalSeconds:F0} s");
}
if (server is not null)
{
    GC.KeepAlive(server);
    Console.WriteLine($"server memory: {before} MiB at start, {at60k?.ToString(CultureInfo.InvariantCulture) ?? "?"} MiB after 60,000 frames, {Rss()} MiB after all");
}
total.Add(rest);
foreach (var problem in total.Problems.Take(30))
{
    Console.WriteLine("problem: " + problem);
}
return total.Problems.Count == 0 ? 0 : 1;
