using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>The new version of one document written by a mutation.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The version the write produced.</param>
public readonly record struct DocumentVersion(string Collection, string Id, long Version);

/// <summary>The outcome of one mutation: committed (with its seq and versions) or rejected.</summary>
public sealed class WriteResult
{
    private WriteResult(Rejection? rejection, long seq, IReadOnlyList<DocumentVersion> results, JsonNode? value, bool duplicate)
    {
        Rejection = rejection;
        Seq = seq;
        Results = results;
        Value = value;
        Duplicate = duplicate;
    }

    /// <summary>Why nothing was written; null on success.</summary>
    public Rejection? Rejection { get; }

    /// <summary>True when the mutation committed.</summary>
    public bool Succeeded => Rejection is null;

    /// <summary>The seq of the mutation's last change (or the head when it changed nothing).</summary>
    public long Seq { get; }

    /// <summary>One entry per document write, in op order.</summary>
    public IReadOnlyList<DocumentVersion> Results { get; }

    /// <summary>A mutator's return value.</summary>
    public JsonNode? Value { get; }

    /// <summary>True when this is the recorded result of an earlier identical (clientId, mid).</summary>
    public bool Duplicate { get; }

    /// <summary>A committed result.</summary>
    public static WriteResult Committed(long seq, IReadOnlyList<DocumentVersion> results, JsonNode? value) => new(null, seq, results, value, false);

    /// <summary>A rejected result.</summary>
    public static WriteResult Rejected(Rejection rejection) => new(rejection, 0, [], null, false);

    /// <summary>The form kept in the store for replays (no current document: it would be stale by then).</summary>
    public string ToRecordJson()
    {
        var o = new JsonObject();
        if (Rejection is { } r)
        {
            o["code"] = r.Error.Code;
            o["message"] = r.Message;
            if (r.Reason is not null)
            {
                o["reason"] = r.Reason;
            }
            if (r.OpIndex is { } op)
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
            if (Value is not null)
            {
                o["result"] = Value.DeepClone();
            }
        }
        return o.ToJsonString(LockstepJson.Options);
    }

    /// <summary>Rebuilds a recorded result, marked as a duplicate.</summary>
    public static WriteResult FromRecordJson(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        if (o["code"] is { } code)
        {
            var error = ErrorCodes.Find(code.GetValue<string>()) ?? ErrorCodes.InternalError;
            var rejection = new Rejection(error, o["message"]?.GetValue<string>() ?? error.Title, null, o["reason"]?.GetValue<string>())
            {
                OpIndex = o["op"]?.GetValue<int>(),
            };
            return new WriteResult(rejection, 0, [], null, true);
        }
        var results = new List<DocumentVersion>();
        foreach (var item in o["results"]!.AsArray())
        {
            results.Add(new DocumentVersion(item!["collection"]!.GetValue<string>(), item["id"]!.GetValue<string>(), item["v"]!.GetValue<long>()));
        }
        return new WriteResult(null, o["seq"]!.GetValue<long>(), results, o["result"]?.DeepClone(), true);
    }
}
