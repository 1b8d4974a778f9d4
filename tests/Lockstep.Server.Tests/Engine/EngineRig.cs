using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Lockstep.Server.Tests.Engine;

/// <summary>
/// The sequencer and the fan-out over a real SQLite file in a temp directory, wired as AddLockstep wires
/// them (the fan-out is the first commit observer) but without a host or Kestrel.
/// </summary>
internal sealed class EngineRig : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _dir;
    private Task _loop = Task.CompletedTask;

    private EngineRig(string dir, SqliteChangeStore store, LockstepOptions options, IEnumerable<IMutatorSource> sources, IEnumerable<ICommitObserver> observers)
    {
        _dir = dir;
        Store = store;
        Options = options;
        Metrics = new EngineMetrics();
        var wrapped = Microsoft.Extensions.Options.Options.Create(options);
        Sequencer = new Sequencer(store, new HybridClock(TimeProvider.System), wrapped, new AccessPolicy(options), Metrics,
            new MutatorRegistry(wrapped, sources), [FanOut, .. observers, Commits], NullLogger<Sequencer>.Instance);
    }

    public SqliteChangeStore Store { get; }

    public LockstepOptions Options { get; }

    public EngineMetrics Metrics { get; }

    public FanOut FanOut { get; } = new();

    /// <summary>Every batch the sequencer reported committed, in order.</summary>
    public RecordingObserver Commits { get; } = new();

    public Sequencer Sequencer { get; }

    /// <summary>Opens a store (a new temp file unless <paramref name="dir"/> names an earlier one) and starts the sequencer when <paramref name="run"/>.</summary>
    public static async Task<EngineRig> StartAsync(Action<LockstepOptions>? configure = null, IEnumerable<IMutatorSource>? sources = null, bool run = true, string? dir = null,
        IEnumerable<ICommitObserver>? observers = null)
    {
        dir ??= Path.Combine(Path.GetTempPath(), "lockstep-engine-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        var options = new LockstepOptions();
        options.Auth.OpenToAnyone();
        configure?.Invoke(options);
        var store = new SqliteChangeStore(new SqliteStoreOptions { Path = Path.Combine(dir, "engine.db"), Synchronous = SqliteSynchronous.Normal });
        var rig = new EngineRig(dir, store, options, sources ?? [], observers ?? []);
        var status = await store.OpenAsync(CancellationToken.None);
        rig.FanOut.Start(status.Head);
        if (run)
        {
            rig.Run();
        }
        return rig;
    }

    /// <summary>Starts the sequencer's loop (writes queued before it are then taken in batches).</summary>
    public void Run() => _loop = Task.Run(() => Sequencer.RunAsync(_stopping.Token));

    public string Directory => _dir;

    /// <summary>When true, disposing leaves the store's file for another rig.</summary>
    public bool KeepData { get; set; }

    public Task<WriteResult> PutAsync(string collection, string id, JsonObject document, string? clientId = null, long? mutationNo = null, long? ifVersion = null) =>
        Sequencer.SubmitAsync(new WriteRequest([new PutOp(collection, id, document) { IfVersion = ifVersion }], clientId, mutationNo), CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Sequencer.Complete();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stopping.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
        Metrics.Dispose();
        await Store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (!KeepData)
        {
            try
            {
                System.IO.Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>A commit observer that keeps what it was told.</summary>
internal sealed class RecordingObserver : ICommitObserver
{
    private readonly Lock _gate = new();
    private readonly List<CommittedBatch> _batches = [];

    public IReadOnlyList<CommittedBatch> Batches
    {
        get
        {
            lock (_gate)
            {
                return [.. _batches];
            }
        }
    }

    public void OnCommitted(CommittedBatch batch)
    {
        lock (_gate)
        {
            _batches.Add(batch);
        }
    }
}

/// <summary>A fan-out listener that keeps what it was offered.</summary>
internal sealed class RecordingListener : IChangeListener
{
    private readonly Lock _gate = new();
    private readonly List<ChangeBatch> _offered = [];

    public int Overflows { get; private set; }

    public IReadOnlyList<ChangeBatch> Offered
    {
        get
        {
            lock (_gate)
            {
                return [.. _offered];
            }
        }
    }

    public bool Offer(ChangeBatch batch)
    {
        lock (_gate)
        {
            _offered.Add(batch);
        }
        return false;
    }

    public void Deliver()
    {
    }

    public void Overflow()
    {
        lock (_gate)
        {
            Overflows++;
        }
    }
}
