using Xunit;

namespace Lockstep.Storage.Tests;

/// <summary>
/// The behaviour every change-log store must have. Each store's test class derives from this and
/// says how to create (and reopen) a store; the PostgreSQL store will run the same suite.
/// </summary>
public abstract class ChangeStoreContract : IAsyncLifetime
{
    private readonly List<IChangeStore> _open = [];

    /// <summary>Creates a store over fresh, empty storage (the same storage on every call within one test).</summary>
    protected abstract IChangeStore CreateStore();

    protected async Task<IChangeStore> OpenAsync()
    {
        var store = CreateStore();
        _open.Add(store);
        await store.OpenAsync(CancellationToken.None);
        return store;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }
    }

    protected static Change NewChange(long seq, string id = "d", string collection = "c", long version = 1, bool deleted = false, string? json = "{\"n\":1}",
        string? clientId = null, long? mutationNo = null, long previousSeq = 0) => new()
        {
            PreviousSeq = previousSeq,
            Seq = seq,
            Collection = collection,
            Id = id,
            Version = version,
            Deleted = deleted,
            Created = version == 1,
            DocumentJson = deleted ? null : json,
            SetJson = deleted ? null : json,
            UnsetJson = null,
            Hlc = new HlcTimestamp(1_700_000_000_000 + seq, 0),
            ClientId = clientId,
            MutationNo = mutationNo,
        };

    protected static async Task AppendAsync(IChangeStore store, params Change[] changes)
    {
        await using var writer = await store.BeginWriteAsync(CancellationToken.None);
        await writer.AppendAsync(changes, [], CancellationToken.None);
        await writer.CommitAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_empty_store_opens_with_head_and_horizon_zero()
    {
        var store = await OpenAsync();
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(0, reader.Head);
        Assert.Equal(0, reader.Horizon);
        Assert.Empty(await reader.ReadChangesAsync(0, null, 100, CancellationToken.None));
    }

    [Fact]
    public async Task Appending_moves_the_head_and_updates_the_documents()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"), NewChange(2, "b"), NewChange(3, "a", version: 2, json: "{\"n\":2}"));
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(3, reader.Head);
        var a = await reader.GetDocumentAsync("c", "a", CancellationToken.None);
        Assert.Equal(2, a!.Version);
        Assert.Equal(3, a.Seq);
        Assert.Equal("{\"n\":2}", a.Json);
        Assert.Equal(new HlcTimestamp(1_700_000_000_003, 0), a.Hlc);
        Assert.Null(await reader.GetDocumentAsync("c", "zzz", CancellationToken.None));
        var changes = await reader.ReadChangesAsync(0, null, 100, CancellationToken.None);
        Assert.Equal([1L, 2L, 3L], changes.Select(c => c.Seq));
        Assert.False(changes[0].PreviousKnown);
    }

    [Theory]
    [InlineData(3)] // a gap after head 1
    [InlineData(1)] // the head again
    public async Task A_gap_or_a_repeated_seq_is_refused(long seq)
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"));
        await using var writer = await store.BeginWriteAsync(CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await writer.AppendAsync([NewChange(seq, "b")], [], CancellationToken.None));
    }

    [Fact]
    public async Task A_rolled_back_batch_leaves_nothing_and_the_store_stays_usable()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"));
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([NewChange(2, "b"), NewChange(3, "c")], [new MutationRecord("cl", 1, 3, "{}")], CancellationToken.None);
            Assert.NotNull(await writer.GetDocumentAsync("c", "b", CancellationToken.None));
            // disposed without commit
        }
        await using (var reader = await store.BeginReadAsync(CancellationToken.None))
        {
            Assert.Equal(1, reader.Head);
            Assert.Null(await reader.GetDocumentAsync("c", "b", CancellationToken.None));
        }
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            Assert.Equal(1, writer.Head);
            Assert.Null(await writer.GetMutationAsync("cl", 1, CancellationToken.None));
        }
        await AppendAsync(store, NewChange(2, "b"));
        await using var after = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(2, after.Head);
    }

    [Fact]
    public async Task A_reader_sees_one_snapshot_while_the_writer_commits_more()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"));
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(1, reader.Head);
        await AppendAsync(store, NewChange(2, "b"), NewChange(3, "a", version: 2, json: "{\"n\":3}"));
        Assert.Equal(1, reader.Head);
        Assert.Null(await reader.GetDocumentAsync("c", "b", CancellationToken.None));
        Assert.Equal(1, (await reader.GetDocumentAsync("c", "a", CancellationToken.None))!.Version);
        Assert.Single(await reader.ReadChangesAsync(0, null, 100, CancellationToken.None));
        Assert.Single(await reader.ListDocumentsAsync("c", null, 100, false, CancellationToken.None));
    }

    [Fact]
    public async Task Reading_changes_filters_by_collection_and_respects_the_limit()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a", "x"), NewChange(2, "a", "y"), NewChange(3, "b", "x"), NewChange(4, "c", "z"), NewChange(5, "d", "x"));
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal([1L, 3L, 5L], (await reader.ReadChangesAsync(0, ["x"], 100, CancellationToken.None)).Select(c => c.Seq));
        Assert.Equal([3L, 4L], (await reader.ReadChangesAsync(2, ["x", "z"], 2, CancellationToken.None)).Select(c => c.Seq));
        Assert.Empty(await reader.ReadChangesAsync(0, [], 100, CancellationToken.None));
        Assert.Equal(5, (await reader.ReadChangesAsync(0, null, 100, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Listing_pages_by_id_and_skips_tombstones_unless_asked()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "b"), NewChange(2, "a"), NewChange(3, "c"), NewChange(4, "B"), NewChange(5, "a", version: 2, deleted: true));
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(["B", "b", "c"], (await reader.ListDocumentsAsync("c", null, 10, false, CancellationToken.None)).Select(d => d.Id));
        Assert.Equal(["B", "a"], (await reader.ListDocumentsAsync("c", null, 2, true, CancellationToken.None)).Select(d => d.Id));
        Assert.Equal(["b", "c"], (await reader.ListDocumentsAsync("c", "a", 10, true, CancellationToken.None)).Select(d => d.Id));
        var tombstone = await reader.GetDocumentAsync("c", "a", CancellationToken.None);
        Assert.True(tombstone!.Deleted);
        Assert.Null(tombstone.Json);
        Assert.Equal(["c"], await reader.ListCollectionsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Ids_and_collections_are_ordered_ordinally_beyond_ascii()
    {
        string[] ids = ["b", "a", "é", "Z", "ä", "中", "_", "1"];
        string[] collections = ["x", "X", "é", "_"];
        var store = await OpenAsync();
        var seq = 0L;
        await AppendAsync(store, [.. ids.Select(id => NewChange(++seq, id)), .. collections.Select(c => NewChange(++seq, "d", c))]);
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(ids.Order(StringComparer.Ordinal), (await reader.ListDocumentsAsync("c", null, 100, false, CancellationToken.None)).Select(d => d.Id));
        Assert.Equal(["b", "ä", "é", "中"], (await reader.ListDocumentsAsync("c", "a", 100, false, CancellationToken.None)).Select(d => d.Id));
        Assert.Equal(collections.Append("c").Order(StringComparer.Ordinal), await reader.ListCollectionsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_body_a_change_left_is_found_by_its_seq_until_compacted()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a", json: "{\"v\":1}"), NewChange(2, "a", version: 2, json: "{\"v\":2}", previousSeq: 1),
            NewChange(3, "a", version: 3, deleted: true, previousSeq: 2));
        await using (var reader = await store.BeginReadAsync(CancellationToken.None))
        {
            var changes = await reader.ReadChangesAsync(0, null, 10, CancellationToken.None);
            Assert.Equal([0L, 1L, 2L], changes.Select(c => c.PreviousSeq));
            Assert.Equal((true, "{\"v\":1}"), await reader.GetBodyAsync(changes[1].PreviousSeq, CancellationToken.None));
            Assert.Equal((true, (string?)null), await reader.GetBodyAsync(3, CancellationToken.None));
            Assert.False((await reader.GetBodyAsync(4, CancellationToken.None)).Found);
        }
        Assert.Equal(1, await store.CompactAsync(1, CancellationToken.None));
        await using var after = await store.BeginReadAsync(CancellationToken.None);
        Assert.False((await after.GetBodyAsync(1, CancellationToken.None)).Found);
    }

    [Fact]
    public async Task Mutation_records_round_trip_and_give_the_last_number()
    {
        var store = await OpenAsync();
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([NewChange(1, "a", clientId: "cl", mutationNo: 7)],
                [new MutationRecord("cl", 7, 1, "{\"seq\":1}"), new MutationRecord("cl", 3, 1, "{\"code\":\"not_found\"}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using var check = await store.BeginWriteAsync(CancellationToken.None);
        Assert.Equal("{\"seq\":1}", (await check.GetMutationAsync("cl", 7, CancellationToken.None))!.ResultJson);
        Assert.Null(await check.GetMutationAsync("cl", 8, CancellationToken.None));
        Assert.Null(await check.GetMutationAsync("other", 7, CancellationToken.None));
        Assert.Equal(7, await check.GetLastMutationNoAsync("cl", CancellationToken.None));
        Assert.Equal(0, await check.GetLastMutationNoAsync("other", CancellationToken.None));
    }

    [Fact]
    public async Task Compaction_moves_the_horizon_drops_old_changes_and_keeps_documents()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a"), NewChange(2, "b"), NewChange(3, "c"), NewChange(4, "a", version: 2));
        Assert.Equal(2, await store.CompactAsync(2, CancellationToken.None));
        Assert.Equal(0, await store.CompactAsync(2, CancellationToken.None));
        await using var reader = await store.BeginReadAsync(CancellationToken.None);
        Assert.Equal(2, reader.Horizon);
        Assert.Equal(4, reader.Head);
        Assert.Equal([3L, 4L], (await reader.ReadChangesAsync(0, null, 100, CancellationToken.None)).Select(c => c.Seq));
        Assert.NotNull(await reader.GetDocumentAsync("c", "b", CancellationToken.None));
        Assert.Equal(2, await store.CompactAsync(100, CancellationToken.None)); // clamped to the head
    }

    [Fact]
    public async Task Everything_survives_reopening_the_store()
    {
        var store = await OpenAsync();
        await AppendAsync(store, NewChange(1, "a", clientId: "cl", mutationNo: 1), NewChange(2, "b"));
        await store.CompactAsync(1, CancellationToken.None);
        await store.DisposeAsync();
        _open.Remove(store);

        var again = await OpenAsync();
        await using var reader = await again.BeginReadAsync(CancellationToken.None);
        Assert.Equal(2, reader.Head);
        Assert.Equal(1, reader.Horizon);
        Assert.NotNull(await reader.GetDocumentAsync("c", "a", CancellationToken.None));
        var change = Assert.Single(await reader.ReadChangesAsync(0, null, 10, CancellationToken.None));
        Assert.Equal("b", change.Id);
        await AppendAsync(again, NewChange(3, "c"));
    }
}
