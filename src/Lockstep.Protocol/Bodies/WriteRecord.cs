using System.Text.Json.Nodes;

namespace Lockstep.Protocol;

/// <summary>
/// A mutation's outcome as the store keeps it to answer a replay of the same (client id, mid) (docs/dev/storage-format.md,
/// <c>mutations.result</c>): committed, <c>{"seq","results":[{"collection","id","v"}],"result"?}</c>, or refused,
/// <c>{"code","message","reason"?,"op"?}</c>. The store keeps these strings: a change to this JSON is a format change.
/// </summary>
public sealed record WriteRecord
{
    private WriteRecord()
    {
    }

    /// <summary>A refusal's error code; null when the mutation committed.</summary>
    public string? Code { get; private init; }

    /// <summary>A refusal's message (null only in a record that lost it).</summary>
    public string? Message { get; private init; }

    /// <summary>A refusal's reason (a mutator's own), if any.</summary>
    public string? Reason { get; private init; }

    /// <summary>The index of the op a refusal is about, if any.</summary>
    public int? Op { get; private init; }

    /// <summary>The seq of a committed mutation's last change (or the head when it changed nothing).</summary>
    public long Seq { get; private init; }

    /// <summary>A committed mutation's document versions, in op order.</summary>
    public IReadOnlyList<WrittenVersion> Results { get; private init; } = [];

    /// <summary>A mutator's return value.</summary>
    public JsonNode? Result { get; private init; }

    /// <summary>A committed mutation's record.</summary>
    public static WriteRecord Committed(long seq, IReadOnlyList<WrittenVersion> results, JsonNode? result) =>
        new() { Seq = seq, Results = results, Result = result };

    /// <summary>A refused mutation's record.</summary>
    public static WriteRecord Refused(string code, string message, string? reason, int? op) =>
        new() { Code = code, Message = message, Reason = reason, Op = op };

    /// <summary>The record's JSON.</summary>
    public string ToJson()
    {
        var o = new JsonObject();
        if (Code is not null)
        {
            o["code"] = Code;
            o["message"] = Message;
            if (Reason is not null)
            {
                o["reason"] = Reason;
            }
            if (Op is { } op)
            {
                o["op"] = op;
            }
        }
        else
        {
            o["seq"] = Seq;
            var results = new JsonArray();
            foreach (var d in Results)
            {
                results.Add(new JsonObject { ["collection"] = d.Collection, ["id"] = d.Id, ["v"] = d.Version });
            }
            o["results"] = results;
            if (Result is not null)
            {
                o["result"] = Result.DeepClone();
            }
        }
        return o.ToJsonString(JsonCodecText.SerializerOptions);
    }

    /// <summary>Reads a record <see cref="ToJson"/> wrote.</summary>
    public static WriteRecord Parse(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        if (o["code"] is { } code)
        {
            return new WriteRecord
            {
                Code = code.GetValue<string>(), Message = o["message"]?.GetValue<string>(), Reason = o["reason"]?.GetValue<string>(), Op = o["op"]?.GetValue<int>(),
            };
        }
        var results = new List<WrittenVersion>();
        foreach (var item in o["results"]!.AsArray())
        {
            results.Add(new WrittenVersion(item!["collection"]!.GetValue<string>(), item["id"]!.GetValue<string>(), item["v"]!.GetValue<long>()));
        }
        return Committed(o["seq"]!.GetValue<long>(), results, o["result"]?.DeepClone());
    }
}
