namespace Lockstep.Server;

/// <summary>
/// Collections the server keeps its own state in (names starting <c>_lockstep.</c>): readable by API keys
/// with the <c>*</c> scope or a <c>read:</c> scope naming them, writable by no client.
/// </summary>
public static class SystemCollections
{
    /// <summary>The prefix reserved for system collections.</summary>
    public const string Prefix = "_lockstep.";

    /// <summary>One document per webhook: how far delivery has come (<c>seq</c>).</summary>
    public const string WebhookCursors = "_lockstep.webhooks";

    /// <summary>Batches a webhook gave up on after its last attempt, with the events, the attempts and the last error.</summary>
    public const string WebhookDeadLetters = "_lockstep.webhook-deadletters";

    /// <summary>Consumer groups: one document per group (its collections and partition count) and one per partition (holder, epoch, checkpoint).</summary>
    public const string Groups = "_lockstep.groups";

    /// <summary>True for a system collection's name.</summary>
    public static bool IsSystem(string collection) => collection.StartsWith(Prefix, StringComparison.Ordinal);
}
