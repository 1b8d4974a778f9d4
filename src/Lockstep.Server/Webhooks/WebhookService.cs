using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>The webhooks' delivery state against the log's head.</summary>
/// <param name="Head">The seq of the last committed change.</param>
/// <param name="Webhooks">Each webhook's delivery, in configuration order.</param>
internal sealed record WebhookListing(long Head, IReadOnlyList<WebhookStatus> Webhooks);

/// <summary>Webhooks' administration (docs/microservices.md, "Webhooks"): their delivery state, and the replay of a dead letter. Administrators only.</summary>
internal sealed class WebhookService
{
    private readonly WebhookDispatcher _dispatcher;
    private readonly AccessPolicy _access;
    private readonly FanOut _fanOut;

    public WebhookService(WebhookDispatcher dispatcher, AccessPolicy access, FanOut fanOut)
    {
        _dispatcher = dispatcher;
        _access = access;
        _fanOut = fanOut;
    }

    /// <summary>Null when the caller may administer webhooks.</summary>
    public Rejection? Admit(Caller caller) => _access.CanAdminister(caller)
        ? null
        : new Rejection(ErrorCodes.Forbidden, "This needs an API key with the * scope (or a rule in Lockstep:Auth:Admin).");

    /// <summary>Every webhook's delivery state.</summary>
    public Outcome<WebhookListing> List(Caller caller)
    {
        if (Admit(caller) is { } refusal)
        {
            return refusal;
        }
        return new WebhookListing(_fanOut.Head, [.. _dispatcher.Channels.Select(c => c.Status)]);
    }

    /// <summary>Sends a dead letter's changes again; the dead letter goes once they are accepted. How many changes were sent.</summary>
    public async Task<Outcome<int>> ReplayAsync(Caller caller, string webhook, string? deadLetterId, CancellationToken cancellationToken)
    {
        if (Admit(caller) is { } refusal)
        {
            return refusal;
        }
        var channel = _dispatcher.Channels.FirstOrDefault(c => c.Name == webhook);
        if (channel is null)
        {
            return new Rejection(ErrorCodes.NotFound, $"No webhook '{webhook}'.");
        }
        if (string.IsNullOrEmpty(deadLetterId))
        {
            return new Rejection(ErrorCodes.InvalidRequest, "'deadLetter' (the dead letter's id) is required.");
        }
        var (replayed, failed) = await channel.ReplayAsync(deadLetterId, cancellationToken);
        return failed is null ? replayed : failed;
    }
}
