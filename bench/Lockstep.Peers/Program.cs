using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lockstep.Peers.Bench;
using Lockstep.Peers.Serve;

var json = new JsonSerializerOptions(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

var serveKind = new Option<string>("--kind") { Description = "signalr (a SignalR hub) or polling (a minimal API polled over HTTP).", Required = true };
serveKind.AcceptOnlyFromAmong("signalr", "polling");
var urls = new Option<string>("--urls") { Description = "Kestrel's URLs; port 0 takes a free one.", DefaultValueFactory = _ => "http://127.0.0.1:0" };
var data = new Option<string>("--data") { Description = "The directory of forms.db.", DefaultValueFactory = _ => "data-peer" };
var serveMessagePack = new Option<bool>("--messagepack") { Description = "signalr: offer SignalR's MessagePack hub protocol as well as JSON." };
var serve = new Command("serve", "Serve the forms as a hand-rolled peer of Lockstep would: a SignalR hub or a polled minimal API over SQLite (WAL, synchronous=FULL).")
{
    serveKind, urls, data, serveMessagePack,
};
serve.SetAction((result, ct) => PeerServer.RunAsync(result.GetValue(serveKind)!, result.GetValue(urls)!, result.GetValue(data)!, result.GetValue(serveMessagePack), ct));

var benchKind = new Option<string>("--kind") { Description = "signalr, polling or lockstep.", Required = true };
benchKind.AcceptOnlyFromAmong("signalr", "polling", "lockstep");
var readers = new Option<int>("--readers") { Description = "Readers, each watching all 100 forms.", DefaultValueFactory = _ => 100 };
var rate = new Option<int>("--rate") { Description = "The writer's writes per second (latency workload).", DefaultValueFactory = _ => 500 };
var duration = new Option<double>("--duration") { Description = "Seconds of writing.", DefaultValueFactory = _ => 10 };
var ack = new Option<bool>("--ack") { Description = "The ack workload instead: one writer, each write after the previous one's durable ack; no readers." };
var messagePack = new Option<bool>("--messagepack") { Description = "signalr: SignalR's MessagePack hub protocol; lockstep: the msgpack encoding. JSON by default." };
var pollInterval = new Option<int>("--poll-interval") { Description = "polling: milliseconds from one poll's start to the next.", DefaultValueFactory = _ => 100 };
var longPoll = new Option<bool>("--long-poll") { Description = "polling: long-poll (GET /changes?after=SEQ&wait=30000, again at once) instead of a fixed interval." };
var asJson = new Option<bool>("--json") { Description = "Print one JSON object, and no progress." };
var bench = new Command("bench", "Run the workload of `lockstep bench --scenario latency` (or --ack) against a child server of the kind, and kill it at the end.")
{
    benchKind, readers, rate, duration, ack, messagePack, pollInterval, longPoll, asJson,
};
bench.SetAction(async (result, ct) =>
{
    var settings = new PeerBenchSettings(result.GetValue(benchKind)!, result.GetValue(readers), result.GetValue(rate), result.GetValue(duration), result.GetValue(ack),
        result.GetValue(messagePack), TimeSpan.FromMilliseconds(result.GetValue(pollInterval)), result.GetValue(longPoll));
    if (settings.Readers < 0 || settings.Rate < 1 || settings.Duration <= 0 || settings.PollInterval <= TimeSpan.Zero)
    {
        Console.Error.WriteLine("--readers must be at least 0, --rate and --poll-interval at least 1, --duration above 0.");
        return 2;
    }
    if (settings.MessagePack && settings.Kind == "polling")
    {
        Console.Error.WriteLine("--messagepack is for signalr and lockstep: the polling peer speaks JSON.");
        return 2;
    }
    var outcome = await new PeerBench(settings, result.GetValue(asJson) ? TextWriter.Null : Console.Out).RunAsync(ct);
    Console.WriteLine(JsonSerializer.Serialize(outcome, outcome.GetType(), result.GetValue(asJson) ? json : new JsonSerializerOptions(json) { WriteIndented = true }));
    return 0;
});

var root = new RootCommand("The peers users would pick instead of Lockstep, served and benchmarked with the same workload (docs/benchmarks.md § Peers).") { serve, bench };
return await root.Parse(args).InvokeAsync();
