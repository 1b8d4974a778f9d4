using System.CommandLine;
using System.CommandLine.Parsing;
using Lockstep.Storage.Sqlite;

namespace Lockstep.Cli.Commands;

/// <summary>What <c>lockstep bench</c> was asked to do, read from its command line; a null figure takes the scenario's default.</summary>
internal sealed record BenchSettings(
    string? Scenario,
    Uri[]? Urls,
    int[] ServerPids,
    int Writes,
    int Writers,
    int Readers,
    int? Rate,
    double? Duration,
    double Warmup,
    int Subscribers,
    int Connections,
    int Changes,
    SqliteSynchronous Synchronous,
    string? Postgres,
    int Nodes,
    string Encoding,
    bool Json);

/// <summary>The options of <c>lockstep bench</c>, their defaults and their checks.</summary>
internal sealed class BenchOptions
{
    /// <summary>The scenarios <c>--scenario</c> takes.</summary>
    public static readonly string[] Scenarios = ["throughput", "latency", "snapshot", "fanout", "connections", "catchup"];

    private readonly Option<string?> _scenario = new("--scenario")
    {
        Description = "Run one scenario: throughput, latency, snapshot, fanout, connections or catchup (docs/benchmarks.md § Scenarios). Without it: throughput, latency and snapshot in turn.",
    };

    private readonly Option<Uri[]> _url = new("--url")
    {
        Description = "A running server (http://host:port or ws://host:port/v1/sync); repeat it for the nodes of a cluster (writers and readers are spread over them, readers on other nodes than the writer). By default the bench starts its own server, a child `lockstep serve` on a temporary directory.",
        CustomParser = ParseUrls,
    };

    private readonly Option<int[]> _serverPid = new("--server-pid")
    {
        Description = "The process id of a server given with --url (repeatable), so that its CPU and memory can be read from /proc; without it those figures are null.",
    };

    private readonly Option<int> _writes = new("--writes") { Description = "Writes in the throughput scenario.", DefaultValueFactory = _ => 20_000 };
    private readonly Option<int> _writers = new("--writers") { Description = "Concurrent writer connections in the throughput and catchup scenarios (each keeps up to 64 writes in flight).", DefaultValueFactory = _ => 32 };
    private readonly Option<int> _readers = new("--readers") { Description = "Subscribers in the latency scenario.", DefaultValueFactory = _ => 4 };
    private readonly Option<int?> _rate = new("--rate") { Description = "Writes per second of the one writer: latency (default 1000) and fanout (default 20)." };
    private readonly Option<double?> _duration = new("--duration") { Description = "Seconds of writing in the latency and fanout scenarios (default 10)." };
    private readonly Option<double> _warmup = new("--warmup")
    {
        Description = "Seconds of the same writes before the latency and fanout scenarios measure, so that the server's JIT and caches are warm (0: none).",
        DefaultValueFactory = _ => 5,
    };
    private readonly Option<int> _subscribers = new("--subscribers") { Description = "Subscribers to one collection in the fanout scenario.", DefaultValueFactory = _ => 1000 };
    private readonly Option<int> _connections = new("--connections") { Description = "Idle connections in the connections scenario (as many as the open-files limit allows).", DefaultValueFactory = _ => 10_000 };
    private readonly Option<int> _changes = new("--changes") { Description = "Changes written before the catch-up in the catchup scenario.", DefaultValueFactory = _ => 1_000_000 };
    private readonly Option<SqliteSynchronous> _synchronous = new("--synchronous") { Description = "Durability of the server the bench starts itself: full (default), normal, off.", DefaultValueFactory = _ => SqliteSynchronous.Full };
    private readonly Option<string?> _postgres = new("--postgres") { Description = "Start the bench's own server on PostgreSQL instead (an Npgsql connection string; use a throw-away database)." };
    private readonly Option<int> _nodes = new("--nodes") { Description = "Nodes to start over --postgres (writers and readers are spread over them).", DefaultValueFactory = _ => 1 };
    private readonly Option<string> _encoding = new("--encoding") { Description = "The frames' encoding: json (default) or msgpack.", DefaultValueFactory = _ => "json" };
    private readonly Option<bool> _json = new("--json") { Description = "Print one JSON object instead of a table, and no progress." };

    public BenchOptions()
    {
        _scenario.AcceptOnlyFromAmong(Scenarios);
        _encoding.AcceptOnlyFromAmong("json", "msgpack");
    }

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _scenario, _url, _serverPid, _writes, _writers, _readers, _rate, _duration, _warmup, _subscribers, _connections, _changes, _synchronous, _postgres, _nodes, _encoding, _json })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The settings, or the reason they make no sense.</summary>
    public (BenchSettings? Settings, string? Error) Read(ParseResult result)
    {
        var settings = new BenchSettings(
            result.GetValue(_scenario),
            result.GetValue(_url) is { Length: > 0 } urls ? urls : null,
            result.GetValue(_serverPid) ?? [],
            result.GetValue(_writes),
            result.GetValue(_writers),
            result.GetValue(_readers),
            result.GetValue(_rate),
            result.GetValue(_duration),
            result.GetValue(_warmup),
            result.GetValue(_subscribers),
            result.GetValue(_connections),
            result.GetValue(_changes),
            result.GetValue(_synchronous),
            result.GetValue(_postgres),
            result.GetValue(_nodes),
            result.GetValue(_encoding)!,
            result.GetValue(_json));
        if (settings.Writes < 1 || settings.Writers < 1 || settings.Rate < 1 || settings.Readers < 0 || settings.Duration <= 0 || settings.Warmup < 0)
        {
            return (null, "--writes, --writers and --rate must be at least 1, --readers and --warmup at least 0, --duration above 0.");
        }
        if (settings.Subscribers < 1 || settings.Connections < 1 || settings.Changes < 1 || settings.Nodes < 1)
        {
            return (null, "--subscribers, --connections, --changes and --nodes must be at least 1.");
        }
        if (settings.Urls is not null && (settings.Postgres is not null || settings.Nodes != 1))
        {
            return (null, "--postgres and --nodes start the bench's own servers: not with --url.");
        }
        if (settings.Urls is null && settings.ServerPids.Length > 0)
        {
            return (null, "--server-pid goes with --url (the bench knows its own servers' PIDs).");
        }
        if (settings.Postgres is null && settings.Nodes != 1)
        {
            return (null, "--nodes needs --postgres: a SQLite server is one node.");
        }
        return (settings, null);
    }

    private static Uri[] ParseUrls(ArgumentResult result)
    {
        var urls = new List<Uri>();
        foreach (var token in result.Tokens)
        {
            if (Uri.TryCreate(token.Value, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" or "ws" or "wss")
            {
                urls.Add(parsed);
            }
            else
            {
                result.AddError($"'{token.Value}' is not an absolute http:// or ws:// URL.");
            }
        }
        return [.. urls];
    }
}
