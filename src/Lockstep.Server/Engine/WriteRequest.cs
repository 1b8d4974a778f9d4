using System.Text.Json;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>A mutation waiting for the sequencer: a batch of ops or a mutator call.</summary>
internal sealed class WriteRequest
{
    private readonly TaskCompletionSource<WriteResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WriteRequest(IReadOnlyList<DocumentOp> ops, string? clientId, long? mutationNo)
    {
        Ops = ops;
        ClientId = clientId;
        MutationNo = mutationNo;
    }

    public WriteRequest(string mutatorName, JsonElement args, string? clientId, long? mutationNo)
    {
        Ops = [];
        MutatorName = mutatorName;
        Args = args;
        ClientId = clientId;
        MutationNo = mutationNo;
    }

    public IReadOnlyList<DocumentOp> Ops { get; }

    /// <summary>Who sent it; the access rules judge its writes. Null for trusted code (no checks).</summary>
    public Caller? Caller { get; init; }

    public string? MutatorName { get; }

    public JsonElement Args { get; }

    public string? ClientId { get; }

    public long? MutationNo { get; }

    /// <summary>True when the mutation carries an idempotency key.</summary>
    public bool IsKeyed => ClientId is not null && MutationNo is not null;

    public Task<WriteResult> Completion => _completion.Task;

    public void Complete(WriteResult result) => _completion.TrySetResult(result);
}
