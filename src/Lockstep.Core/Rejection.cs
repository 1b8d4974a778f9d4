using Lockstep.Protocol;

namespace Lockstep.Core;

/// <summary>
/// Why a write was not applied: a stable error code, a message, and where it helps the client, the
/// document as it stands. Inside the engine a rejected write is this value, never an exception.
/// </summary>
/// <param name="Error">The catalog entry.</param>
/// <param name="Message">A human-readable explanation.</param>
/// <param name="Current">The current state of the document the write was aimed at, when relevant.</param>
/// <param name="Reason">A mutator's own domain reason, with <see cref="ErrorCodes.MutationRejected"/>.</param>
public sealed record Rejection(ErrorCode Error, string Message, StoredDocument? Current = null, string? Reason = null)
{
    /// <summary>The index of the operation in its batch that failed, when one did.</summary>
    public int? OpIndex { get; init; }
}
