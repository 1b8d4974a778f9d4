using System.Text.Json.Nodes;

namespace Lockstep.Client;

/// <summary>What a saga step sees: the saga's id and its data, which the step may change (saved with the step's completion).</summary>
public sealed class SagaContext
{
    internal SagaContext(string sagaId, JsonObject data, int attempt)
    {
        SagaId = sagaId;
        Data = data;
        Attempt = attempt;
    }

    /// <summary>The saga's id (its state document's id): the idempotency key for what its steps do.</summary>
    public string SagaId { get; }

    /// <summary>The saga's data: what it started with and what steps added.</summary>
    public JsonObject Data { get; }

    /// <summary>Which attempt of this step this is (1 for the first).</summary>
    public int Attempt { get; }
}
