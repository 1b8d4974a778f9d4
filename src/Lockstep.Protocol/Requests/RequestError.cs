namespace Lockstep.Protocol;

/// <summary>Why a request was refused as it was read: the code and message of its <c>error</c> frame, and the failing op's index.</summary>
/// <param name="Code">The error code.</param>
/// <param name="Message">What was wrong, in words.</param>
public sealed record RequestError(ErrorCode Code, string Message)
{
    /// <summary>The index of the failing op of a <c>mut</c>.</summary>
    public int? Op { get; init; }

    /// <summary>An <c>invalid_request</c>.</summary>
    public static RequestError Invalid(string message) => new(ErrorCodes.InvalidRequest, message);
}
