using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>A hello that passed every check: who the caller is and what the session resumes.</summary>
/// <param name="Caller">The caller, from the upgrade's credentials or the hello's token.</param>
/// <param name="ClientId">The client id, scoped to the caller; counted against the per-client limit when not null.</param>
/// <param name="Cursor">The resume position the client sent.</param>
/// <param name="Subs">The subscriptions to resume, each with the caller's read access.</param>
internal sealed record HelloAccepted(Caller Caller, string? ClientId, long? Cursor, List<Subscription> Subs);

/// <summary>A refused hello: the error frame's rejection and the close code after it.</summary>
/// <param name="Rejection">The refusal.</param>
/// <param name="CloseCode">1008, or 1013 for <c>overloaded</c>.</param>
internal sealed record HelloRefused(Rejection Rejection, int CloseCode);

/// <summary>
/// The checks of a hello once its frame is read (docs/protocol.md §3, "A refused hello"), in the order the
/// protocol gives them: the fields, the credentials, access to each resumed subscription, the subscription and
/// filter limits, the client's connections, and last room for one more session. A refusal takes nothing; an
/// acceptance holds the client's connection count (released by the session when it ends) and the session slot.
/// </summary>
internal sealed class HelloHandshake(LockstepOptions options, CallerAuthenticator authenticator, AccessPolicy access, ConnectionAdmission admission)
{
    private readonly LockstepOptions _options = options;

    public async Task<(HelloAccepted? Accepted, HelloRefused? Refused)> CheckAsync(JsonElement root, Caller? caller, ConnectionSlot? slot)
    {
        if (!FrameParser.TryParseHello(root, _options.FilterLimits, out var hello, out var subs, out var rejection))
        {
            return Refuse(rejection!);
        }
        if (caller is null)
        {
            (caller, var refusal) = await authenticator.AuthenticateTokenAsync(hello!.Token);
            if (caller is null)
            {
                return Refuse(new Rejection(ErrorCodes.Unauthorized, refusal!));
            }
        }
        for (var i = 0; i < subs.Count; i++)
        {
            var grant = access.Read(caller, subs[i].Collection);
            if (grant.None)
            {
                return Refuse(new Rejection(ErrorCodes.Forbidden, $"You may not read '{subs[i].Collection}' (subscription '{subs[i].Id}')."));
            }
            subs[i] = subs[i] with { Access = grant };
        }
        var clientId = hello!.ClientId is { } id ? caller.ScopeClientId(id) : null;
        if (subs.Count > _options.MaxSubscriptionsPerConnection)
        {
            return Refuse(new Rejection(ErrorCodes.TooManySubscriptions,
                $"A connection may hold {_options.MaxSubscriptionsPerConnection} subscriptions; the hello resumes {subs.Count}."));
        }
        if (subs.Sum(s => (long)s.Filter.Bytes) is var filterBytes && filterBytes > _options.MaxFilterBytesPerConnection)
        {
            return Refuse(new Rejection(ErrorCodes.TooManySubscriptions,
                $"A connection's filters may hold {_options.MaxFilterBytesPerConnection} bytes together; the hello resumes {filterBytes}."));
        }
        if (clientId is not null && !admission.TryOpenClient(clientId))
        {
            return Refuse(new Rejection(ErrorCodes.TooManyConnections,
                $"Client '{clientId}' already has {_options.MaxConnectionsPerClient} connections open."));
        }
        if (slot is not null && !slot.TryEstablish())
        {
            // The sessions filled up between the upgrade and this hello.
            if (clientId is not null)
            {
                admission.CloseClient(clientId);
            }
            return (null, new HelloRefused(new Rejection(ErrorCodes.Overloaded,
                $"This server holds its limit of {admission.MaxSessions} connections; retry with backoff, or another node."), CloseCodes.TryAgainLater));
        }
        return (new HelloAccepted(caller, clientId, hello.Cursor, subs), null);
    }

    private static (HelloAccepted?, HelloRefused?) Refuse(Rejection rejection) => (null, new HelloRefused(rejection, CloseCodes.PolicyViolation));
}
