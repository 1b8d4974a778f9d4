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

    /// <summary>The form kept in the store for replays (<see cref="WriteRecord"/>; no current document: it would be stale by then).</summary>
    public string ToRecordJson() => (Rejection is { } r
        ? WriteRecord.Refused(r.Error.Code, r.Message, r.Reason, r.OpIndex)
        : WriteRecord.Committed(Seq, [.. Results.Select(d => new WrittenVersion(d.Collection, d.Id, d.Version))], Value)).ToJson();

    /// <summary>Rebuilds a recorded result, marked as a duplicate.</summary>
    public static WriteResult FromRecordJson(string json)
    {
        var record = WriteRecord.Parse(json);
        if (record.Code is { } code)
        {
            var error = ErrorCodes.Find(code) ?? ErrorCodes.InternalError;
            var rejection = new Rejection(error, record.Message ?? error.Title, null, record.Reason) { OpIndex = record.Op };
            return new WriteResult(rejection, 0, [], null, true);
        }
        return new WriteResult(null, record.Seq, [.. record.Results.Select(d => new DocumentVersion(d.Collection, d.Id, d.Version))], record.Result, true);
    }
}
