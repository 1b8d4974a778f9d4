using System.Diagnostics;
using System.Globalization;
using Lockstep.Fuzz;

// Usage: Lockstep.Fuzz <ws://host:port/v1/sync> [frames=1000000] [connections=8] [seed=1] [server-pid]
// Sends fuzzed frames over several connections at once and prints what came back. With the server's
// PID it also samples the server's resident memory before and after. Exit code 1 on any problem.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Lockstep.Fuzz <ws://host:port/v1/sync> [frames=1000000] [connections=8] [seed=1] [server-pid]");
    return 2;
}
var url = new Uri(args[0]);
var frames = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
var connections = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
Process? server = args.Length > 4 ? Process.GetProcessById(int.Parse(args[4], CultureInfo.InvariantCulture)) : null;

long Rss()
{
    server!.Refresh();
    return server.WorkingSet64 / (1 << 20);
}
var before = server is null ? 0 : Rss();
var clock = Stopwatch.StartNew();
var reports = await Task.WhenAll(Enumerable.Range(0, connections).Select(c =>
    FuzzDriver.RunAsync(url, seed * 1000 + c, frames / connections, TimeSpan.FromSeconds(5), 1 << 20, CancellationToken.None)));
var total = new FuzzReport();
foreach (var report in reports)
{
    total.Add(report);
}
Console.WriteLine($"{total} in {clock.Elapsed.TotalSeconds:F0} s ({total.Frames / clock.Elapsed.TotalSeconds:F0} frames/s)");
if (server is not null)
{
    GC.KeepAlive(server);
    Console.WriteLine($"server memory: {before} MiB before, {Rss()} MiB after");
}
foreach (var problem in total.Problems.Take(20))
{
    Console.WriteLine("problem: " + problem);
}
return total.Problems.Count == 0 ? 0 : 1;
