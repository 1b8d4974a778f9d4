using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Storage.PostgreSql;
using Xunit;
using Xunit.Abstractions;

namespace Lockstep.Storage.Tests;

/// <summary>
/// Several server nodes over one database: store instances append at once, with random pauses inside
/// their open transactions and random rollbacks, while readers tail the log by position. Commit
/// order must equal seq order, so every reader sees each committed seq exactly once, in order.
/// </summary>
public sealed class PostgreSqlConcurrencyTests : IAsyncLifetime
{
    private const int Writers = 6;
    private const int Readers = 3;
    private const int Documents = 8;
    private static readonly TimeSpan WriteFor = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly List<PostgreSqlChangeStore> _stores = [];
    private readonly ITestOutputHelper _output;
    private PostgreSqlTestDatabase? _database;

    public PostgreSqlConcurrencyTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public async Task InitializeAsync() => _database = await PostgreSqlTestDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Readers_tailing_the_log_see_every_committed_seq_once_in_order_while_several_stores_append()
    {
        for (var i = 0; i < Writers; i++)
        {
            _stores.Add(new PostgreSqlChangeStore(new PostgreSqlStoreOptions { ConnectionString = _database!.ConnectionString }));
        }
        // All at once, as nodes starting together do.
        await Task.WhenAll(_stores.Select(s => s.OpenAsync(CancellationToken.None).AsTask()));

        using var deadline = new CancellationTokenSource(Deadline);
        var committed = 0L;
        var committedPerDocument = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var rollbacks = 0;
        var clock = Stopwatch.StartNew();
        var writers = Task.WhenAll(Enumerable.Range(0, Writers).Select(i => Task.Run(async () =>
        {
            var random = new Random(1000 + i);
            var store = _stores[i];
            for (var batch = 0; batch < 100_000 && clock.Elapsed < WriteFor; batch++)
            {
                await using var writer = await store.BeginWriteAsync(deadline.Token);
                var roll = random.Next(10);
                if (roll == 0)
                {
                    Interlocked.Increment(ref rollbacks);
                    continue; // rolled back before appending anything
                }
                var versions = new Dictionary<string, (long Version, long Seq)>(StringComparer.Ordinal);
                var changes = new List<Change>();
                var count = random.Next(1, 6);
                for (var k = 0; k < count; k++)
                {
                    var id = "d" + random.Next(Documents);
                    if (!versions.TryGetValue(id, out var previous))
                    {
                        var stored = await writer.GetDocumentAsync("c", id, deadline.Token);
                        previous = stored is null ? (0, 0) : (stored.Version, stored.Seq);
                    }
                    var seq = writer.Head + k + 1;
                    changes.Add(new Change
                    {
                        Seq = seq, Collection = "c", Id = id, Version = previous.Version + 1, Created = previous.Version == 0,
                        DocumentJson = $"{{\"by\":{i}}}", SetJson = $"{{\"by\":{i}}}", PreviousSeq = previous.Seq,
                        Hlc = new HlcTimestamp(1_700_000_000_000, 0),
                    });
                    versions[id] = (previous.Version + 1, seq);
                }
                await Task.Delay(random.Next(0, 3), deadline.Token); // work inside the open transaction
                await writer.AppendAsync(changes, [], deadline.Token);
                if (roll == 1)
                {
                    Interlocked.Increment(ref rollbacks);
                    continue; // appended, then rolled back by disposing without commit
                }
                await Task.Delay(random.Next(0, 2), deadline.Token); // a commit that comes late
                await writer.CommitAsync(deadline.Token);
                Interlocked.Add(ref committed, changes.Count);
                foreach (var change in changes)
                {
                    committedPerDocument.AddOrUpdate(change.Id, 1, (_, n) => n + 1);
                }
            }
        })));

        var readers = Enumerable.Range(0, Readers).Select(r => Task.Run(async () =>
        {
            var store = _stores[r % Writers];
            var seen = new List<long>();
            var last = 0L;
            var lastHead = 0L;
            while (true)
            {
                deadline.Token.ThrowIfCancellationRequested();
                // Read before the snapshot: once the writers are done, this snapshot holds all they committed.
                var writersDone = writers.IsCompleted;
                await using var reader = await store.BeginReadAsync(deadline.Token);
                Assert.True(reader.Head >= lastHead, $"reader {r}: the head went back from {lastHead} to {reader.Head}");
                lastHead = reader.Head;
                var changes = await reader.ReadChangesAsync(last, null, 200, deadline.Token);
                foreach (var change in changes)
                {
                    Assert.True(change.Seq == last + 1, $"reader {r}: seq {change.Seq} after {last}");
                    last = change.Seq;
                    seen.Add(change.Seq);
                }
                Assert.True(last <= reader.Head, $"reader {r}: read seq {last} above its snapshot's head {reader.Head}");
                if (changes.Count == 0)
                {
                    if (writersDone && last == reader.Head)
                    {
                        return seen;
                    }
                    await Task.Delay(1, deadline.Token);
                }
            }
        })).ToList();

        await writers;
        var seenByReaders = await Task.WhenAll(readers);

        var total = Interlocked.Read(ref committed);
        _output.WriteLine($"{Writers} stores committed {total} changes in {clock.Elapsed.TotalSeconds:F1} s ({rollbacks} batches rolled back); {Readers} readers each saw all of them");
        Assert.True(total > 100, $"only {total} changes were committed in {WriteFor}: the test proves little");
        Assert.True(rollbacks > 0);
        foreach (var seen in seenByReaders)
        {
            Assert.Equal(total, seen.Count);
            Assert.True(seen.SequenceEqual(Enumerable.Range(1, (int)total).Select(n => (long)n)), "a reader did not see 1..N in order");
        }

        // Every writer read the documents under the lock, so no update was lost: each document's
        // versions run 1, 2, 3, … in log order, and its last version counts its committed changes.
        await using var check = await _stores[0].BeginReadAsync(CancellationToken.None);
        Assert.Equal(total, check.Head);
        var log = await check.ReadChangesAsync(0, null, (int)total + 1, CancellationToken.None);
        foreach (var group in log.GroupBy(c => c.Id))
        {
            Assert.Equal(Enumerable.Range(1, group.Count()).Select(n => (long)n), group.Select(c => c.Version));
            Assert.Equal(group.Count(), committedPerDocument[group.Key]);
            var document = await check.GetDocumentAsync("c", group.Key, CancellationToken.None);
            Assert.Equal(group.Count(), document!.Version);
            Assert.Equal(group.Last().Seq, document.Seq);
        }
    }
}
