using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>The engine's values as the protocol's frame records (Lockstep.Protocol writes them in either encoding).</summary>
internal static class Frames
{
    /// <summary>A request id as it came (number or string); null when there was none.</summary>
    public static RawJson? Id(JsonElement id) => id.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? null : new RawJson(id.GetRawText());

    /// <summary>The error frame of a rejection.</summary>
    public static ErrorFrame Error(RawJson? id, Rejection rejection, bool duplicate = false) => new(id, rejection.Error.Code, rejection.Message)
    {
        Reason = rejection.Reason,
        Op = rejection.OpIndex,
        Current = rejection.Current is { } current ? Current(current) : null,
        Dup = duplicate,
    };

    /// <summary>A document as it stands (an error's <c>current</c>).</summary>
    public static CurrentDocument Current(StoredDocument document) =>
        new(document.Collection, document.Id, document.Version, document.Deleted ? null : new RawJson(document.Json ?? "{}"));

    /// <summary>A listed document (snapshots and REST listings).</summary>
    public static SnapshotDocument Listed(StoredDocument document) => new(document.Id, document.Version, new RawJson(document.Json ?? "{}"));

    /// <summary>The reply to a write: an ack, or the error that refused it.</summary>
    public static Frame Reply(RawJson? id, WriteResult result) => result.Rejection is { } rejection
        ? Error(id, rejection, result.Duplicate)
        : Ack(id, result);

    /// <summary>The ack of a committed write.</summary>
    public static AckFrame Ack(RawJson? id, WriteResult result) =>
        new(id, result.Seq, [.. result.Results.Select(d => new WrittenVersion(d.Collection, d.Id, d.Version))])
        {
            Result = result.Value is { } value ? new RawJson(value.ToJsonString(LockstepJson.Options)) : null,
            Dup = result.Duplicate,
        };

    /// <summary>A change as the feed, consumer groups and webhooks show it; its origin only to the <paramref name="reader"/> that made it (null: nobody's).</summary>
    public static FeedChange Feed(Change change, Caller? reader)
    {
        // Another caller's client id is a handle on its mutation records and connection slots: a reader
        // learns that a change is its own, never whose another's is.
        var own = reader?.OwnClientId(change.ClientId);
        return new FeedChange(change.Seq, change.Collection, change.Id, change.Version)
        {
            Hlc = change.Hlc.ToString(),
            ClientId = own,
            Mid = own is null ? null : change.MutationNo,
            Deleted = change.Deleted,
            Created = change.Created,
            Set = change.Deleted ? null : new RawJson(change.SetJson ?? "{}"),
            Unset = change.Deleted || change.UnsetJson is null ? null : new RawJson(change.UnsetJson),
            Doc = change.Deleted ? null : new RawJson(change.DocumentJson ?? "{}"),
        };
    }

    /// <summary>A change that took the document away from what the reader may see.</summary>
    public static FeedChange FeedRemoved(Change change) => new(change.Seq, change.Collection, change.Id, change.Version) { Removed = true };

    /// <summary>
    /// True when the change's frames to the connection of client <paramref name="clientId"/> carry its <c>mid</c>: the
    /// client's own change carries its mutation number, so an SDK can tell its writes from remote ones.
    /// </summary>
    public static bool CarriesMid(Change change, string? clientId) =>
        change.MutationNo is not null && clientId is not null && string.Equals(change.ClientId, clientId, StringComparison.Ordinal);

    /// <summary>
    /// A change as a subscription's frame: <c>removed</c>, or a <c>chg</c> with the delta, the whole document or
    /// <c>del</c>; it carries its <c>mid</c> only to the connection whose client made it (<paramref name="clientId"/>).
    /// </summary>
    public static Frame Change(string sub, Change change, ChangeFrameKind kind, string? clientId)
    {
        long? mid = CarriesMid(change, clientId) ? change.MutationNo : null;
        return kind switch
        {
            ChangeFrameKind.Removed => new RemovedFrame(sub, change.Seq, change.Id, change.Version) { Mid = mid },
            ChangeFrameKind.Delta => new ChangeFrame(sub, change.Seq, change.Id, change.Version, ChangeKind.Delta)
            {
                Mid = mid,
                Body = new RawJson(change.SetJson ?? "{}"),
                Unset = change.UnsetJson is { } unset ? new RawJson(unset) : null,
            },
            ChangeFrameKind.Whole => new ChangeFrame(sub, change.Seq, change.Id, change.Version, ChangeKind.Entered)
            {
                Mid = mid,
                Body = new RawJson(change.DocumentJson ?? "{}"),
            },
            _ => new ChangeFrame(sub, change.Seq, change.Id, change.Version, ChangeKind.Deleted) { Mid = mid },
        };
    }
}
