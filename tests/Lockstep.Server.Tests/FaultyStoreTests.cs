using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>The real SQLite store with commits that fail on demand, as a full disk or an I/O error would.</summary>
public sealed class FaultyStore(IChangeStore inner) : IChangeStore
{
    /// <summary>Reading this document id throws as an unexpected bug would.</summary>
    public const string PoisonId = "poison";

    private volatile bool _failCommits;

    public bool FailCommits
    {
        get => _failCommits;
        set => _failCommits = value;
    }

    public ValueTask<StoreStatus> OpenAsync(CancellationToken cancellationToken) => inner.OpenAsync(cancellationToken);

    public async ValueTask<IStoreWriter> BeginWriteAsync(CancellationToken cancellationToken) =>
        new Writer(await inner.BeginWriteAsync(cancellationToken), this);

    public ValueTask<IStoreReader> BeginReadAsync(CancellationToken cancellationToken) => inner.BeginReadAsync(cancellationToken);

    public ValueTask<long> CompactAsync(long upToSeq, CancellationToken cancellationToken) => inner.CompactAsync(upToSeq, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Writer(IStoreWriter inner, FaultyStore owner) : IStoreWriter
    {
        public long Head => inner.Head;

        public ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken) =>
            id == PoisonId ? throw new InvalidOperationException("a bug meeting odd input (injected)") : inner.GetDocumentAsync(collection, id, cancellationToken);

        public ValueTask<MutationRecord?> GetMutationAsync(string clientId, long mutationNo, CancellationToken cancellationToken) => inner.GetMutationAsync(clientId, mutationNo, cancellationToken);

        public ValueTask<long> GetLastMutationNoAsync(string clientId, CancellationToken cancellationToken) => inner.GetLastMutationNoAsync(clientId, cancellationToken);

        public ValueTask AppendAsync(IReadOnlyList<Change> changes, IReadOnlyList<MutationRecord> mutations, CancellationToken cancellationToken) =>
            inner.AppendAsync(changes, mutations, cancellationToken);

        public ValueTask CommitAsync(CancellationToken cancellationToken) =>
            owner.FailCommits ? throw new IOException("disk full (injected)") : inner.CommitAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

public sealed class FaultyStoreTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private FaultyStore _store = null!;

    public async Task InitializeAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lockstep-faulty-" + Guid.NewGuid().ToString("N"));
        _server = await TestServer.StartAsync(build: b =>
        {
            b.Services.RemoveAll<IChangeStore>();
            b.Services.AddSingleton<IChangeStore>(_ =>
                _store = new FaultyStore(new SqliteChangeStore(new SqliteStoreOptions { Path = Path.Combine(dir, "faulty.db") })));
        }, dataDir: dir);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_failed_commit_refuses_its_writes_with_a_transient_code_and_publishes_nothing_then_writing_resumes_without_a_gap()
    {
        var c = Ops.Unique();
        await using var writer = await _server.ConnectAsync("faulty-w");
        await using var reader = await _server.ConnectAsync("faulty-r");
        await reader.SubscribeAsync("s", c);
        var first = await writer.MutateAsync(1, Ops.Put(c, "a", new { n = 1 }));
        Assert.Equal("ack", (string?)first["t"]);

        _store.FailCommits = true;
        var failed = await writer.MutateAsync(2, Ops.Patch(c, "a", new { n = 2 }));
        Assert.Equal("storage_unavailable", (string?)failed["code"]);
        _store.FailCommits = false;

        // The same mid again: it was never recorded, so it applies now, once, from the committed state.
        var retried = await writer.MutateAsync(2, Ops.Patch(c, "a", new { n = 2 }));
        Assert.Equal("ack", (string?)retried["t"]);
        Assert.Null(retried["dup"]);
        Assert.Equal((long)first["seq"]! + 1, (long)retried["seq"]!);
        Assert.Equal(2, (long)retried["results"]![0]!["v"]!);

        await reader.WaitForSeqAsync((long)retried["seq"]!);
        Assert.Empty(reader.Violations);
        var changes = reader.Stream.Where(f => (string?)f["t"] == "chg").Select(f => (long)f["seq"]!).ToList();
        Assert.Equal([(long)first["seq"]!, (long)retried["seq"]!], changes);
        var doc = JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/a"))!;
        Assert.Equal(2, (int)doc["n"]!);
    }

    [Fact]
    public async Task An_unexpected_failure_in_one_mutation_refuses_only_that_one_and_the_batch_commits_the_rest()
    {
        var c = Ops.Unique();
        await using var a = await _server.ConnectAsync("poison-a");
        await using var b = await _server.ConnectAsync("poison-b");
        // Sent together, so that they usually share a group-commit batch.
        var poisoned = a.MutateAsync(Ops.Put(c, FaultyStore.PoisonId, new { n = 1 }));
        var fine = b.MutateAsync(Ops.Put(c, "fine", new { n = 1 }));
        Assert.Equal("internal_error", (string?)(await poisoned)["code"]);
        Assert.Equal("ack", (string?)(await fine)["t"]);
        Assert.Equal(1, (int)JsonNode.Parse(await _server.Http.GetStringAsync($"/v1/collections/{c}/docs/fine"))!["n"]!);
    }
}
