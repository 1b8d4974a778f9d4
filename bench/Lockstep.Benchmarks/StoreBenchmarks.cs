using BenchmarkDotNet.Attributes;
using Lockstep.Core;
using Lockstep.Storage.Sqlite;

namespace Lockstep.Benchmarks;

/// <summary>Appending a group-commit batch of changes to the SQLite store, per batch size and durability.</summary>
[MemoryDiagnoser]
public class StoreBenchmarks
{
    private string _dir = "";
    private SqliteChangeStore _store = null!;
    private long _head;

    [Params(1, 100, 1000)]
    public int BatchSize { get; set; }

    [Params(SqliteSynchronous.Full, SqliteSynchronous.Normal)]
    public SqliteSynchronous Synchronous { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "lockstep-bench-" + Guid.NewGuid().ToString("N"));
        _store = new SqliteChangeStore(new SqliteStoreOptions { Path = Path.Combine(_dir, "bench.db"), Synchronous = Synchronous });
        _head = _store.OpenAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult().Head;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark]
    public async Task AppendBatch()
    {
        var changes = new List<Change>(BatchSize);
        for (var i = 0; i < BatchSize; i++)
        {
            var seq = ++_head;
            changes.Add(new Change
            {
                Seq = seq,
                Collection = "bench",
                Id = "d" + (seq % 1000),
                Version = seq,
                DocumentJson = "{\"n\":" + seq + "}",
                SetJson = "{\"n\":" + seq + "}",
                Hlc = new HlcTimestamp(seq, 0),
            });
        }
        await using var writer = await _store.BeginWriteAsync(CancellationToken.None);
        await writer.AppendAsync(changes, [], CancellationToken.None);
        await writer.CommitAsync(CancellationToken.None);
    }
}
