using System.Text.Json.Nodes;

namespace Lockstep.Core.Tests;

internal static class Json
{
    public static JsonObject Obj(string json) => JsonNode.Parse(json)!.AsObject();

    public static StoredDocument Doc(string json, long version = 1, string collection = "c", string id = "d") =>
        new(collection, id, version, version, false, json, default);

    public static StoredDocument Tombstone(long version, string collection = "c", string id = "d") =>
        new(collection, id, version, version, true, null, default);

    public static AppliedWrite Applied(StoredDocument? current, DocumentOp op, ConflictPolicy policy = ConflictPolicy.Lww)
    {
        var (write, rejection) = DocumentWriter.Apply(current, op, policy);
        if (rejection is not null)
        {
            throw new InvalidOperationException($"{rejection.Error.Code}: {rejection.Message}");
        }
        return write!;
    }

    public static Rejection Rejected(StoredDocument? current, DocumentOp op, ConflictPolicy policy = ConflictPolicy.Lww)
    {
        var (write, rejection) = DocumentWriter.Apply(current, op, policy);
        return rejection ?? throw new InvalidOperationException("expected a rejection, got version " + write!.Version);
    }

    /// <summary>The stored form of an applied write, to apply the next op to.</summary>
    public static StoredDocument Stored(AppliedWrite write) =>
        new(write.Collection, write.Id, write.Version, write.Version, write.Deleted, write.Document?.ToJsonString(), default);

    public static PatchOp Patch(string path, JsonNode? value, long? ifVersion = null) =>
        new("c", "d", [new(path, value)], []) { IfVersion = ifVersion };
}
