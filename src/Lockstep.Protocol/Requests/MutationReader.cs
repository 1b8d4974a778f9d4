using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>Reads write operations — a socket <c>mut</c>'s and a REST <c>POST /v1/mutations</c> body's <c>ops</c> — into <see cref="MutationOp"/>s.</summary>
public static class MutationReader
{
    /// <summary>The ops, each checked in turn; a refused one's index is the error's <see cref="RequestError.Op"/>.</summary>
    public static bool TryReadOps(JsonElement ops, int maxOps, out List<MutationOp> result, out RequestError? error)
    {
        result = [];
        error = null;
        if (ops.ValueKind != JsonValueKind.Array)
        {
            error = RequestError.Invalid("'ops' must be an array of operations.");
            return false;
        }
        var count = ops.GetArrayLength();
        if (count == 0 || count > maxOps)
        {
            error = RequestError.Invalid($"'ops' must hold 1 to {maxOps} operations, not {count}.");
            return false;
        }
        var index = 0;
        foreach (var element in ops.EnumerateArray())
        {
            if (!TryReadOp(element, out var op, out error))
            {
                error = error! with { Op = index };
                return false;
            }
            result.Add(op!);
            index++;
        }
        return true;
    }

    /// <summary>One op: collection and id first, then <c>ifVersion</c>, then what its kind needs.</summary>
    public static bool TryReadOp(JsonElement element, out MutationOp? op, out RequestError? error)
    {
        op = null;
        error = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            error = RequestError.Invalid("An operation is a JSON object.");
            return false;
        }
        var name = RequestReader.GetString(element, "op");
        var collection = RequestReader.GetString(element, "collection");
        var id = RequestReader.GetString(element, "id");
        if (!Names.IsValidCollection(collection))
        {
            error = RequestError.Invalid($"'collection' must be a valid collection name, not {Show(collection)}.");
            return false;
        }
        if (!Names.IsValidId(id))
        {
            error = RequestError.Invalid($"'id' must be a valid document id, not {Show(id)}.");
            return false;
        }
        long? ifVersion = null;
        if (element.TryGetProperty("ifVersion", out var ifv) && ifv.ValueKind != JsonValueKind.Null)
        {
            if (ifv.ValueKind != JsonValueKind.Number || !ifv.TryGetInt64(out var v) || v < 0)
            {
                error = RequestError.Invalid("'ifVersion' must be a non-negative integer.");
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
                    error = RequestError.Invalid("'put' needs 'doc', a JSON object.");
                    return false;
                }
                if (doc.ValueKind != JsonValueKind.Object)
                {
                    error = new RequestError(ErrorCodes.InvalidDocument, "'doc' must be a JSON object.");
                    return false;
                }
                op = new MutationOp(OpKind.Put, collection, id) { IfVersion = ifVersion, Doc = new RawJson(doc.GetRawText()) };
                return true;
            case "patch":
                return TryReadPatch(element, collection, id, ifVersion, out op, out error);
            case "inc":
                var path = RequestReader.GetString(element, "path");
                if (!Names.TrySplitPath(path, out _))
                {
                    error = RequestError.Invalid($"'path' must be a valid field path, not {Show(path)}.");
                    return false;
                }
                if (!element.TryGetProperty("by", out var by) || by.ValueKind != JsonValueKind.Number || !by.TryGetDecimal(out _))
                {
                    error = RequestError.Invalid("'by' must be a number.");
                    return false;
                }
                op = new MutationOp(OpKind.Inc, collection, id) { IfVersion = ifVersion, Path = path, By = new RawJson(by.GetRawText()) };
                return true;
            case "delete":
                op = new MutationOp(OpKind.Delete, collection, id) { IfVersion = ifVersion };
                return true;
            default:
                error = RequestError.Invalid($"'op' must be put, patch, inc or delete, not {Show(name)}.");
                return false;
        }
    }

    private static bool TryReadPatch(JsonElement element, string collection, string id, long? ifVersion, out MutationOp? op, out RequestError? error)
    {
        op = null;
        error = null;
        RawJson? set = null;
        var paths = 0;
        if (element.TryGetProperty("set", out var s))
        {
            if (s.ValueKind != JsonValueKind.Object)
            {
                error = RequestError.Invalid("'set' must be an object of field path → value.");
                return false;
            }
            foreach (var p in s.EnumerateObject())
            {
                if (!Names.TrySplitPath(p.Name, out _))
                {
                    error = RequestError.Invalid($"'{p.Name}' is not a valid field path.");
                    return false;
                }
                paths++;
            }
            set = new RawJson(s.GetRawText());
        }
        List<string>? unset = null;
        if (element.TryGetProperty("unset", out var u))
        {
            if (u.ValueKind != JsonValueKind.Array)
            {
                error = RequestError.Invalid("'unset' must be an array of field paths.");
                return false;
            }
            unset = [];
            foreach (var p in u.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.String || !Names.TrySplitPath(p.GetString(), out _))
                {
                    error = RequestError.Invalid($"{p.GetRawText()} is not a valid field path.");
                    return false;
                }
                unset.Add(p.GetString()!);
            }
        }
        if (paths == 0 && (unset is null || unset.Count == 0))
        {
            error = RequestError.Invalid("'patch' needs 'set' or 'unset'.");
            return false;
        }
        op = new MutationOp(OpKind.Patch, collection, id) { IfVersion = ifVersion, Set = set, Unset = unset };
        return true;
    }

    private static string Show(string? value) => value is null ? "missing" : $"'{value}'";
}
