using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>Turns the JSON of write operations (socket <c>mut</c> and REST <c>POST /v1/mutations</c>) into ops.</summary>
internal static class RequestParser
{
    public static bool TryParseOps(JsonElement ops, int maxOps, out List<DocumentOp> result, out Rejection? rejection)
    {
        result = [];
        rejection = null;
        if (ops.ValueKind != JsonValueKind.Array)
        {
            rejection = Invalid("'ops' must be an array of operations.");
            return false;
        }
        var count = ops.GetArrayLength();
        if (count == 0 || count > maxOps)
        {
            rejection = Invalid($"'ops' must hold 1 to {maxOps} operations, not {count}.");
            return false;
        }
        var index = 0;
        foreach (var element in ops.EnumerateArray())
        {
            if (!TryParseOp(element, out var op, out rejection))
            {
                rejection = rejection! with { OpIndex = index };
                return false;
            }
            result.Add(op!);
            index++;
        }
        return true;
    }

    public static bool TryParseOp(JsonElement element, out DocumentOp? op, out Rejection? rejection)
    {
        op = null;
        rejection = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            rejection = Invalid("An operation is a JSON object.");
            return false;
        }
        var name = GetString(element, "op");
        var collection = GetString(element, "collection");
        var id = GetString(element, "id");
        if (!Names.IsValidCollection(collection))
        {
            rejection = Invalid($"'collection' must be a valid collection name, not {Show(collection)}.");
            return false;
        }
        if (!Names.IsValidId(id))
        {
            rejection = Invalid($"'id' must be a valid document id, not {Show(id)}.");
            return false;
        }
        long? ifVersion = null;
        if (element.TryGetProperty("ifVersion", out var ifv) && ifv.ValueKind != JsonValueKind.Null)
        {
            if (ifv.ValueKind != JsonValueKind.Number || !ifv.TryGetInt64(out var v) || v < 0)
            {
                rejection = Invalid("'ifVersion' must be a non-negative integer.");
                return false;
            }
            ifVersion = v;
        }
        switch (name)
        {
            case "put":
                // A missing field is a bad request; a document of the wrong shape is a bad document.
                if (!element.TryGetProperty("doc", out var doc) || doc.ValueKind == JsonValueKind.Null)
                {
                    rejection = Invalid("'put' needs 'doc', a JSON object.");
                    return false;
                }
                if (doc.ValueKind != JsonValueKind.Object)
                {
                    rejection = new Rejection(ErrorCodes.InvalidDocument, "'doc' must be a JSON object.");
                    return false;
                }
                op = new PutOp(collection, id, ToObject(doc)) { IfVersion = ifVersion };
                return true;
            case "patch":
                {
                    var set = new List<KeyValuePair<string, JsonNode?>>();
                    var unset = new List<string>();
                    if (element.TryGetProperty("set", out var s))
                    {
                        if (s.ValueKind != JsonValueKind.Object)
                        {
                            rejection = Invalid("'set' must be an object of field path → value.");
                            return false;
                        }
                        foreach (var p in s.EnumerateObject())
                        {
                            if (!Names.TrySplitPath(p.Name, out _))
                            {
                                rejection = Invalid($"'{p.Name}' is not a valid field path.");
                                return false;
                            }
                            set.Add(new(p.Name, JsonNode.Parse(p.Value.GetRawText())));
                        }
                    }
                    if (element.TryGetProperty("unset", out var u))
                    {
                        if (u.ValueKind != JsonValueKind.Array)
                        {
                            rejection = Invalid("'unset' must be an array of field paths.");
                            return false;
                        }
                        foreach (var p in u.EnumerateArray())
                        {
                            if (p.ValueKind != JsonValueKind.String || !Names.TrySplitPath(p.GetString(), out _))
                            {
                                rejection = Invalid($"{p.GetRawText()} is not a valid field path.");
                                return false;
                            }
                            unset.Add(p.GetString()!);
                        }
                    }
                    if (set.Count == 0 && unset.Count == 0)
                    {
                        rejection = Invalid("'patch' needs 'set' or 'unset'.");
                        return false;
                    }
                    op = new PatchOp(collection, id, set, unset) { IfVersion = ifVersion };
                    return true;
                }
            case "inc":
                {
                    var path = GetString(element, "path");
                    if (!Names.TrySplitPath(path, out _))
                    {
                        rejection = Invalid($"'path' must be a valid field path, not {Show(path)}.");
                        return false;
                    }
                    if (!element.TryGetProperty("by", out var by) || by.ValueKind != JsonValueKind.Number || !by.TryGetDecimal(out var amount))
                    {
                        rejection = Invalid("'by' must be a number.");
                        return false;
                    }
                    op = new IncOp(collection, id, path!, amount) { IfVersion = ifVersion };
                    return true;
                }
            case "delete":
                op = new DeleteOp(collection, id) { IfVersion = ifVersion };
                return true;
            default:
                rejection = Invalid($"'op' must be put, patch, inc or delete, not {Show(name)}.");
                return false;
        }
    }

    public static JsonObject ToObject(JsonElement element) => JsonNode.Parse(element.GetRawText())!.AsObject();

    public static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static Rejection Invalid(string message) => new(ErrorCodes.InvalidRequest, message);

    /// <summary>Why <paramref name="what"/> (<c>'clientId'</c>, a header's name) is refused when <see cref="Names.IsValidClientId"/> is false.</summary>
    public static string InvalidClientIdMessage(string what) => what + " must be a string of 1 to 128 characters, none of them control characters.";

    private static string Show(string? value) => value is null ? "missing" : $"'{value}'";
}
