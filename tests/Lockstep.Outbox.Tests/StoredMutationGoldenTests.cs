using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Outbox.Tests;

/// <summary>
/// The outbox table's <c>mutation</c> column, frozen: what <see cref="Outbox.EnqueueAsync(System.Data.Common.DbTransaction, OutboxMutation, CancellationToken)"/>
/// writes into a real SQLite file is exactly these strings (ops of every kind, escaping, decimals, a call), so rows enqueued by an
/// older build read the same after an upgrade and the other way round. Change them only as a format change (docs/microservices.md).
/// </summary>
public sealed class StoredMutationGoldenTests : IAsyncLifetime
{
    private SqliteServiceDatabase _database = null!;

    public async Task InitializeAsync() => _database = await SqliteServiceDatabase.CreateAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task The_outbox_table_holds_the_mutation_json_byte_for_byte()
    {
        var ops = OutboxMutation.Ops(
            OutboxOp.Put("orders", "o-1", new JsonObject { ["note"] = "café <b> & \"q\"", ["total"] = 1.50m, ["at"] = 12.5, ["tags"] = new JsonArray("a", null) }, ifVersion: 0),
            OutboxOp.Patch("stock", "sku-é", new Dictionary<string, JsonNode?> { ["count"] = 3, ["meta.tag"] = null }, ["old"], ifVersion: 2),
            OutboxOp.Patch("stock", "sku-2", new Dictionary<string, JsonNode?>(), ["gone"]),
            OutboxOp.Increment("stock", "sku-1", "count", -0.10m),
            OutboxOp.Delete("orders", "o-2"));
        var call = OutboxMutation.Call("reserve", new JsonObject { ["sku"] = "ü\n", ["n"] = 1e-7 });

        var stored = await EnqueueAndReadAsync(ops, call, OutboxMutation.Call("go", null));

        Assert.Equal(
            [
                """{"ops":[{"op":"put","collection":"orders","id":"o-1","doc":{"note":"caf\u00E9 \u003Cb\u003E \u0026 \u0022q\u0022","total":1.50,"at":12.5,"tags":["a",null]},"ifVersion":0},"""
                    + """{"op":"patch","collection":"stock","id":"sku-\u00E9","set":{"count":3,"meta.tag":null},"unset":["old"],"ifVersion":2},"""
                    + """{"op":"patch","collection":"stock","id":"sku-2","set":{},"unset":["gone"]},"""
                    + """{"op":"inc","collection":"stock","id":"sku-1","path":"count","by":-0.10},"""
                    + """{"op":"delete","collection":"orders","id":"o-2"}]}""",
                """{"name":"reserve","args":{"sku":"\u00FC\n","n":1E-07}}""",
                """{"name":"go"}""",
            ],
            stored);
    }

    private async Task<List<string>> EnqueueAndReadAsync(params OutboxMutation[] mutations)
    {
        var outbox = new Outbox();
        await using var connection = await _database.OpenAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            foreach (var mutation in mutations)
            {
                await outbox.EnqueueAsync(transaction, mutation);
            }
            await transaction.CommitAsync();
        }
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT mutation FROM lockstep_outbox ORDER BY id";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }
}
