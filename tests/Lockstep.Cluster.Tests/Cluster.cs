using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Lockstep.Server.Tests;
using Npgsql;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// Several real `lockstep serve --postgres` processes over one throw-away database of the test
/// cluster that ./test.sh starts (LOCKSTEP_TEST_POSTGRES). Disposing kills the nodes and drops the database.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly string _adminConnectionString;
    private readonly string _database;

    private Cluster(string adminConnectionString, string database, string connectionString)
    {
        _adminConnectionString = adminConnectionString;
        _database = database;
        ConnectionString = connectionString;
    }

    public string ConnectionString { get; }

    public List<ServerProcess?> Nodes { get; } = [];

    private readonly List<string> _dataDirs = [];

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException("LOCKSTEP_TEST_POSTGRES is not set: run ./test.sh, which starts a throw-away PostgreSQL, or set it to a superuser connection string.");

    public static Task<Cluster> StartAsync(int nodes, params string[] extra) => StartAsync(nodes, new Dictionary<string, string>(), extra);

    /// <summary>Starts the nodes with extra environment variables (options: <c>Lockstep__RetainedChanges</c>, …).</summary>
    public static async Task<Cluster> StartAsync(int nodes, IReadOnlyDictionary<string, string> environment, params string[] extra)
    {
        var admin = AdminConnectionString;
        var database = "lockstep_cluster_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;
        var cluster = new Cluster(admin, database, cs);
        try
        {
            for (var i = 0; i < nodes; i++)
            {
                await cluster.StartNodeAsync(environment, extra);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    public async Task<ServerProcess> StartNodeAsync(IReadOnlyDictionary<string, string> environment, params string[] extra)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "lockstep-node-" + Guid.NewGuid().ToString("N"));
        _dataDirs.Add(dataDir);
        var node = await ServerProcess.StartAsync(dataDir, environment, null, ["--postgres", ConnectionString, .. extra]);
        Nodes.Add(node);
        return node;
    }

    public ServerProcess Node(int index) => Nodes[index] ?? throw new InvalidOperationException($"Node {index} was killed.");

    /// <summary>SIGKILL: the node's process dies with no shutdown code run.</summary>
    public async Task KillAsync(int index)
    {
        var node = Node(index);
        await node.KillAsync();
        await node.DisposeAsync();
        Nodes[index] = null;
    }

    public static async Task<JsonObject> GetJsonAsync(ServerProcess node, string path)
    {
        using var http = new HttpClient { BaseAddress = node.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        return (await http.GetFromJsonAsync<JsonObject>(path))!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes.OfType<ServerProcess>())
        {
            await node.DisposeAsync();
        }
        Nodes.Clear();
        foreach (var dir in _dataDirs.Where(Directory.Exists))
        {
            Directory.Delete(dir, recursive: true);
        }
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
