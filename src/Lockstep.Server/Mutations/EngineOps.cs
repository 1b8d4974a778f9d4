using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Write operations as the engine applies them: the protocol's ops (socket <c>mut</c>, REST <c>POST /v1/mutations</c>), which
/// <see cref="MutationReader"/> reads and checks, turned into Core's <see cref="DocumentOp"/>s.
/// </summary>
internal static class EngineOps
{
    public static bool TryRead(JsonElement ops, int maxOps, out List<DocumentOp> result, out Rejection? rejection)
    {
        result = [];
        rejection = null;
        if (!MutationReader.TryReadOps(ops, maxOps, out var read, out var error))
        {
            rejection = FrameParser.ToRejection(error!);
            return false;
        }
        result = From(read);
        return true;
    }

    /// <summary>The engine's ops of ops the reader accepted.</summary>
    public static List<DocumentOp> From(IReadOnlyList<MutationOp> ops) => [.. ops.Select(ToDocumentOp)];

    private static DocumentOp ToDocumentOp(MutationOp op) => op.Kind switch
    {
        OpKind.Put => new PutOp(op.Collection, op.Id, Parse(op.Doc!.Value)) { IfVersion = op.IfVersion },
        OpKind.Patch => new PatchOp(op.Collection, op.Id, SetOf(op.Set), op.Unset ?? []) { IfVersion = op.IfVersion },
        OpKind.Inc => new IncOp(op.Collection, op.Id, op.Path!, decimal.Parse(op.By!.Value.Json, NumberStyles.Float, CultureInfo.InvariantCulture)) { IfVersion = op.IfVersion },
        _ => new DeleteOp(op.Collection, op.Id) { IfVersion = op.IfVersion },
    };

    private static List<KeyValuePair<string, JsonNode?>> SetOf(RawJson? set)
    {
        if (set is not { } json)
        {
            return [];
        }
        var o = Parse(json);
        var pairs = o.ToList();
        // Detached from the object that held them, as values of a delta are.
        o.Clear();
        return pairs;
    }

    private static JsonObject Parse(RawJson json) => JsonNode.Parse(json.Json)!.AsObject();
}
