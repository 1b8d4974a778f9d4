namespace Lockstep.Protocol;

/// <summary>
/// One entry of the error catalog: a stable code that travels over the socket, in REST problem+json
/// and in client exceptions. docs/errors.md documents every entry; a test keeps the two in step.
/// </summary>
/// <param name="Code">The stable snake_case code.</param>
/// <param name="HttpStatus">The HTTP status the REST API answers with.</param>
/// <param name="IsTransient">True when retrying the same request later may succeed.</param>
/// <param name="Title">A short human-readable title.</param>
public sealed record ErrorCode(string Code, int HttpStatus, bool IsTransient, string Title)
{
    /// <inheritdoc />
    public override string ToString() => Code;
}
