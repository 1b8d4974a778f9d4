using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Outbox;

/// <summary>
/// What one outbox row publishes: an atomic batch of ops (<see cref="Ops(IEnumerable{OutboxOp})"/>) or a
/// call of a server-side mutator (<see cref="Call(string, JsonNode?)"/>). The relay sends it as one
/// <c>POST /v1/mutations</c>, so all of it applies or none does. The stored form is the body
/// <see cref="MutationBodies"/> writes.
/// </summary>
public sealed class OutboxMutation
{
    /// <summary>At most this many ops in one mutation (the server's default limit).</summary>
    public const int MaxOps = 1000;

    private OutboxMutation(string json) => Json = json;

    /// <summary>The stored form: a JSON object with <c>ops</c>, or with <c>name</c> and <c>args</c>.</summary>
    public string Json { get; }

    /// <summary>An atomic batch of one or more ops.</summary>
    public static OutboxMutation Ops(IEnumerable<OutboxOp> ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var list = new List<MutationOp>();
        foreach (var op in ops)
        {
            ArgumentNullException.ThrowIfNull(op, nameof(ops));
            list.Add(op.Op);
        }
        if (list.Count is 0 or > MaxOps)
        {
            throw new ArgumentException($"A mutation has 1 to {MaxOps} ops.", nameof(ops));
        }
        return new OutboxMutation(MutationBodies.WriteOps(list));
    }

    /// <summary>An atomic batch of one or more ops.</summary>
    public static OutboxMutation Ops(params OutboxOp[] ops) => Ops((IEnumerable<OutboxOp>)ops);

    /// <summary>A call of the server-side mutator <paramref name="name"/> with <paramref name="args"/> (any JSON, or null for none).</summary>
    public static OutboxMutation Call(string name, JsonNode? args)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new OutboxMutation(MutationBodies.WriteCall(name, args is null ? null : new RawJson(args.ToJsonString())));
    }

    /// <summary>
    /// A mutation from its JSON form, for ops built elsewhere: an object with <c>ops</c> (an array of
    /// ops in the protocol's format) or <c>name</c> (and optionally <c>args</c>). Only the shape is
    /// checked here; the server validates the ops.
    /// </summary>
    public static OutboxMutation FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var doc = Parse(json);
        var root = doc.RootElement;
        if (!MutationBodies.IsMutation(root))
        {
            throw new ArgumentException("An outbox mutation is a JSON object with 'ops' (an array) or 'name' (and 'args'); the relay adds 'clientId' and 'mid'.", nameof(json));
        }
        return new OutboxMutation(root.GetRawText());
    }

    /// <inheritdoc />
    public override string ToString() => Json;

    private static JsonDocument Parse(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException("An outbox mutation must be valid JSON: " + e.Message, nameof(json), e);
        }
    }
}
