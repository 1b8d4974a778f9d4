namespace Lockstep.Outbox;

/// <summary>How the server answered one publish, kept as a value so the retry strategy can look at it.</summary>
internal enum PublishOutcomeKind
{
    /// <summary>Applied now, or earlier (<see cref="PublishOutcome.Duplicate"/>).</summary>
    Applied,

    /// <summary>Refused for good: mark the row refused and go on.</summary>
    Refused,

    /// <summary>May succeed later: retry the same row with backoff.</summary>
    Transient,

    /// <summary>Nothing can be published until the configuration is fixed: mark nothing, stop the pass.</summary>
    Halt,
}

/// <summary>The answer to one publish.</summary>
internal readonly record struct PublishOutcome(PublishOutcomeKind Kind, long Seq, bool Duplicate, string Code, string Message, int Status, TimeSpan? RetryAfter)
{
    public static PublishOutcome Applied(long seq, bool duplicate) => new(PublishOutcomeKind.Applied, seq, duplicate, "", "", 200, null);

    public static PublishOutcome Failed(PublishOutcomeKind kind, string code, string message, int status = 0, TimeSpan? retryAfter = null) =>
        new(kind, 0, false, code, message, status, retryAfter);
}
