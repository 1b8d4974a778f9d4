using Lockstep.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// The engine's services a sync connection works with, registered once by <c>AddLockstep()</c> and handed to each
/// <see cref="SyncSession"/>, which gives its parts — the <see cref="HelloHandshake"/>, the
/// <see cref="RequestDispatcher"/> and the <see cref="SessionStream"/> — exactly the ones each uses.
/// </summary>
internal sealed class SessionServices(IOptions<LockstepOptions> options, IChangeStore store, Sequencer sequencer, FanOut fanOut, LogHorizon horizon,
    AccessPolicy access, CallerAuthenticator authenticator, ClientRateLimiter rateLimiter, ConnectionAdmission admission, EngineLifetime lifetime,
    EngineMetrics metrics, TimeProvider time, ILoggerFactory loggers) : IDisposable
{
    public LockstepOptions Options { get; } = options.Value;

    public IChangeStore Store { get; } = store;

    public Sequencer Sequencer { get; } = sequencer;

    public FanOut FanOut { get; } = fanOut;

    public LogHorizon Horizon { get; } = horizon;

    public AccessPolicy Access { get; } = access;

    public CallerAuthenticator Authenticator { get; } = authenticator;

    public ClientRateLimiter RateLimiter { get; } = rateLimiter;

    public ConnectionAdmission Admission { get; } = admission;

    public EngineLifetime Lifetime { get; } = lifetime;

    public EngineMetrics Metrics { get; } = metrics;

    public TimeProvider Time { get; } = time;

    /// <summary>The sessions' log category.</summary>
    public ILogger Logger { get; } = loggers.CreateLogger("Lockstep.Sync");

    /// <summary>True when the store is shared by several nodes (a cluster).</summary>
    public bool IsClustered => Store is ISharedChangeStore;

    /// <summary>The one timer that checks every session's timeouts and heartbeat.</summary>
    public SessionTimer Timer { get; } = new(options.Value, time);

    public void Dispose() => Timer.Dispose();
}
