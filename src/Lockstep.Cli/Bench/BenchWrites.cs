using System.Globalization;
using System.Text.Json;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

/// <summary>The frames the bench writes — single-field patches numbered by <c>n</c> and small documents — and how a reader tells which write a change came from.</summary>
internal static class BenchWrites
{
    /// <summary>A fresh name for a scenario's collection, so runs against one server never see each other's changes.</summary>
    public static string NewCollection(string prefix) => $"bench-{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>A fresh run id for client ids.</summary>
    public static string NewRun() => Guid.NewGuid().ToString("N")[..8];

    /// <summary>The document id <c>d</c>N.</summary>
    public static string DocumentId(long d) => "d" + d.ToString(CultureInfo.InvariantCulture);

    /// <summary>A <c>mut</c> of one op.</summary>
    public static MutateFrame Mutation(long id, long? mid, MutationOp op) => new(RawJson.Number(id), mid, [op]);

    /// <summary>A single-field patch, <c>set: {"n": n}</c>: the update the bench measures.</summary>
    public static MutationOp SetN(string collection, string id, long n) =>
        new(OpKind.Patch, collection, id) { Set = new RawJson("{\"n\":" + n.ToString(CultureInfo.InvariantCulture) + "}") };

    /// <summary>
    /// The scenario's own writes for <paramref name="warmup"/> at its rate, before it measures — so that what is measured
    /// is the server warmed up, not its first seconds of compiling and tiering up code — then a second for them to be
    /// delivered. They set <c>n</c> below −1, which no reader counts (<see cref="SetNumber"/> ≥ 0).
    /// </summary>
    public static async Task WarmUpAsync(BenchTarget target, BenchConnection writer, int rate, TimeSpan warmup, Func<long, MutationOp> op, CancellationToken cancellationToken)
    {
        var writes = (int)(rate * warmup.TotalSeconds);
        if (writes < 1)
        {
            return;
        }
        target.Progress.WriteLine($"  warming up: {writes:N0} writes in {warmup.TotalSeconds} s …");
        await new PacedWriter(rate).WriteAsync(writes, i => writer.SendAsync(Mutation(-2 - i, null, op(-2 - i)), cancellationToken), cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
    }

    /// <summary>A document as the bench writes them.</summary>
    public static RawJson Document(int d) => new("{\"title\":\"document " + d.ToString(CultureInfo.InvariantCulture) + "\",\"n\":-1}");

    /// <summary>A put of <see cref="Document"/> <paramref name="d"/>.</summary>
    public static MutationOp Put(string collection, int d) => new(OpKind.Put, collection, DocumentId(d)) { Doc = Document(d) };

    /// <summary>The <c>n</c> a delta sets, when it is a number.</summary>
    public static long? SetNumber(ChangeFrame change)
    {
        if (change.Kind != ChangeKind.Delta || change.Body is not { } body)
        {
            return null;
        }
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(body.Json));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isN = reader.ValueTextEquals("n"u8);
            reader.Read();
            if (isN)
            {
                return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : null;
            }
            reader.Skip();
        }
        return null;
    }

    /// <summary>Sends <paramref name="count"/> puts of <see cref="Document"/>s d0… on <paramref name="connection"/> and waits for their acks.</summary>
    public static async Task PutDocumentsAsync(BenchConnection connection, string collection, int count, CancellationToken cancellationToken)
    {
        using var replies = new SemaphoreSlim(0);
        connection.OnFrame = (_, _) => replies.Release();
        for (var d = 0; d < count; d++)
        {
            await connection.SendAsync(Mutation(d, null, Put(collection, d)), cancellationToken);
        }
        for (var d = 0; d < count; d++)
        {
            await replies.WaitAsync(cancellationToken);
        }
        connection.OnFrame = null;
    }
}
