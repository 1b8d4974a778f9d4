using System.Text.Json;

namespace Lockstep.Server;

/// <summary>Work for a session's pump besides committed batches. Handled in arrival order.</summary>
internal abstract record SessionCommand;

internal sealed record SubscribeCommand(JsonElement RequestId, Subscription Subscription, bool Reset) : SessionCommand
{
    /// <summary>True when it came from a client frame and holds one of the session's command slots.</summary>
    public bool FromClient { get; init; }
}

internal sealed record ResumeCommand(JsonElement RequestId, IReadOnlyList<Subscription> Subscriptions) : SessionCommand;

internal sealed record UnsubscribeCommand(JsonElement RequestId, string SubscriptionId) : SessionCommand
{
    /// <summary>True when it came from a client frame and holds one of the session's command slots.</summary>
    public bool FromClient { get; init; }
}

/// <summary>A heartbeat tick: every batch up to <paramref name="Head"/> has been offered already.</summary>
internal sealed record TickCommand(long Head) : SessionCommand;

/// <summary>The session's buffer overflowed: catch up from the log.</summary>
internal sealed record OverflowCommand : SessionCommand
{
    public static OverflowCommand Instance { get; } = new();
}
