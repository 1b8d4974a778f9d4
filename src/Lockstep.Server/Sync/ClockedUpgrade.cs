using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Server;

/// <summary>
/// Puts an <see cref="InboundFrameClock"/> under a request's WebSocket: wraps the HTTP/1.1 upgrade and
/// the HTTP/2 extended CONNECT, so the stream the WebSocket middleware builds its socket on is clocked.
/// Installed before the WebSocket middleware, which captures these features when a request arrives.
/// </summary>
internal static class ClockedUpgrade
{
    public static Task InstallAsync(HttpContext context, RequestDelegate next)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var connect = context.Features.Get<IHttpExtendedConnectFeature>();
        if (upgrade is { IsUpgradableRequest: true } || connect is { IsExtendedConnect: true })
        {
            var time = context.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
            var clock = new InboundFrameClock(time);
            context.Features.Set(clock);
            if (upgrade is { IsUpgradableRequest: true })
            {
                context.Features.Set<IHttpUpgradeFeature>(new Upgrade(upgrade, clock));
            }
            if (connect is { IsExtendedConnect: true })
            {
                context.Features.Set<IHttpExtendedConnectFeature>(new Connect(connect, clock));
            }
        }
        return next(context);
    }

    private sealed class Upgrade(IHttpUpgradeFeature inner, InboundFrameClock clock) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync() => new ClockedStream(await inner.UpgradeAsync(), clock);
    }

    private sealed class Connect(IHttpExtendedConnectFeature inner, InboundFrameClock clock) : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => inner.IsExtendedConnect;

        public string? Protocol => inner.Protocol;

        public async ValueTask<Stream> AcceptAsync() => new ClockedStream(await inner.AcceptAsync(), clock);
    }
}
