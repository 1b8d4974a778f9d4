using Lockstep.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Lockstep.Storage.Tests;

public sealed class SqliteChangeStoreTests : ChangeStoreContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lockstep-store-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_dir, "lockstep.db");

    protected override IChangeStore CreateStore() => new SqliteChangeStore(new SqliteStoreOptions { Path = DbPath });

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task The_database_is_in_wal_mode_with_full_synchronous_by_default()
    {
        await OpenAsync();
        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_store_written_by_a_newer_format_is_refused()
    {
        var store = await OpenAsync();
        await store.DisposeAsync();
        await using (var connection = new SqliteConnection($"Data Source={DbPath}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE meta SET value = 99 WHERE key = 'schema_version'";
            await command.ExecuteNonQueryAsync();
        }
        SqliteConnection.ClearAllPools();
        var newer = CreateStore();
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await newer.OpenAsync(CancellationToken.None));
        Assert.Contains("version 99", error.Message, StringComparison.Ordinal);
        await newer.DisposeAsync();
    }

    /// <summary>Freezes the persisted form of a change: an accidental format change fails here (docs/dev/storage-format.md).</summary>
    [Fact]
    public async Task The_persisted_rows_of_a_change_match_the_documented_format()
    {
        var store = await OpenAsync();
        await using (var writer = await store.BeginWriteAsync(CancellationToken.None))
        {
            await writer.AppendAsync([new Change
            {
                Seq = 1, Collection = "tasks", Id = "t1", Version = 1, Created = true,
                DocumentJson = "{\"title\":\"Write spec\"}", SetJson = "{\"title\":\"Write spec\"}", UnsetJson = null,
                Hlc = new HlcTimestamp(1732345678901, 2), ClientId = "c-1", MutationNo = 17, PreviousSeq = 0,
            }], [new MutationRecord("c-1", 17, 1, "{\"seq\":1,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1}]}")], CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }
        await using var connection = new SqliteConnection($"Data Source={DbPath};Mode=ReadOnly");
        await connection.OpenAsync();
        Assert.Equal("1|tasks|t1|1|0|1|{\"title\":\"Write spec\"}|{\"title\":\"Write spec\"}||1732345678901-2|c-1|17|0",
            await RowAsync(connection, "SELECT seq, collection, id, version, deleted, created, body, set_json, unset_json, hlc, client_id, mutation_no, prev_seq FROM changes"));
        Assert.Equal("tasks|t1|1|1|0|{\"title\":\"Write spec\"}|1732345678901-2",
            await RowAsync(connection, "SELECT collection, id, version, seq, deleted, body, hlc FROM documents"));
        Assert.Equal("c-1|17|1|{\"seq\":1,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1}]}",
            await RowAsync(connection, "SELECT client_id, mutation_no, seq, result FROM mutations"));
        Assert.Equal("head=1;horizon=0;schema_version=2",
            await RowAsync(connection, "SELECT group_concat(key || '=' || value, ';') FROM (SELECT key, value FROM meta ORDER BY key)"));
    }

    private static async Task<string> RowAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)));
    }
}
