using System.Text.Json;
using Lockstep.Core;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Mutations submitted on a caller's behalf: a batch of document ops or a mutator's call, committed by the
/// sequencer (which applies the access rules); the answer is the <see cref="WriteResult"/>, refused or committed.
/// Client ids are the client's own here and scoped to the caller (<see cref="Caller.ScopeClientId"/>) before
/// they key the mutation's record.
/// </summary>
internal sealed class MutationService
{
    private readonly Sequencer _sequencer;
    private readonly LockstepOptions _options;

    public MutationService(Sequencer sequencer, IOptions<LockstepOptions> options)
    {
        _sequencer = sequencer;
        _options = options.Value;
    }

    /// <summary>A batch as the protocol spells its <c>ops</c>; an invalid one is refused before it is queued.</summary>
    public Task<WriteResult> ApplyAsync(Caller caller, JsonElement ops, string? clientId, long? mid, CancellationToken cancellationToken)
    {
        if (!EngineOps.TryRead(ops, _options.MaxOpsPerMutation, out var parsed, out var rejection))
        {
            return Task.FromResult(WriteResult.Rejected(rejection!));
        }
        return WriteAsync(caller, parsed, clientId, mid, cancellationToken);
    }

    /// <summary>A batch of document ops, all or nothing.</summary>
    public Task<WriteResult> WriteAsync(Caller caller, IReadOnlyList<DocumentOp> ops, string? clientId, long? mid, CancellationToken cancellationToken) =>
        _sequencer.SubmitAsync(new WriteRequest(ops, Scope(caller, clientId), mid) { Caller = caller }, cancellationToken);

    /// <summary>A call of a registered mutator (the server's own, under the system prefix, are not the caller's to call).</summary>
    public Task<WriteResult> CallAsync(Caller caller, string name, JsonElement args, string? clientId, long? mid, CancellationToken cancellationToken) =>
        _sequencer.SubmitAsync(new WriteRequest(name, args, Scope(caller, clientId), mid) { Caller = caller }, cancellationToken);

    /// <summary>A call of one of the server's own mutators (consumer groups), which check their arguments themselves: no caller, no access rules.</summary>
    public Task<WriteResult> CallSystemAsync(string name, JsonElement args, CancellationToken cancellationToken) =>
        _sequencer.SubmitAsync(new WriteRequest(name, args, null, null), cancellationToken);

    private static string? Scope(Caller caller, string? clientId) => clientId is null ? null : caller.ScopeClientId(clientId);
}
