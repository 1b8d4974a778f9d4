namespace Lockstep.Protocol;

/// <summary>
/// A REST refusal as a client reads it from its problem+json (RFC 9457; docs/protocol.md §9, docs/errors.md): the stable
/// error code and what the server said of it. Read with <see cref="MutationBodies.TryReadProblem"/>.
/// </summary>
/// <param name="Code">The stable error code (<c>code</c>), never empty.</param>
/// <param name="Detail">The server's explanation (<c>detail</c>), when it gave one as a string.</param>
/// <param name="Transient">Whether retrying may succeed (<c>transient</c>: true only when it is <c>true</c>); null when the problem does not say.</param>
/// <param name="Op">The index of the refused op (<c>op</c>), when the problem names one.</param>
public sealed record RestProblem(string Code, string? Detail, bool? Transient, int? Op);
