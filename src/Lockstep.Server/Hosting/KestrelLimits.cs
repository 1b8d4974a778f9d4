using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Caps Kestrel's connections to the <see cref="ConnectionBudget"/>: upgraded connections (sync
/// sessions) and all others together stay within the open-files limit. Lower limits configured for
/// Kestrel are kept.
/// </summary>
internal sealed class KestrelLimits(ConnectionAdmission admission) : IPostConfigureOptions<KestrelServerOptions>
{
    public void PostConfigure(string? name, KestrelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var budget = admission.Budget;
        var limits = options.Limits;
        if (budget.Http is { } http)
        {
            limits.MaxConcurrentConnections = Math.Min(limits.MaxConcurrentConnections ?? long.MaxValue, http);
        }
        // Sockets in their handshake are upgraded connections too.
        limits.MaxConcurrentUpgradedConnections = Math.Min(limits.MaxConcurrentUpgradedConnections ?? long.MaxValue, (long)budget.Sessions + budget.Pending);
    }
}
