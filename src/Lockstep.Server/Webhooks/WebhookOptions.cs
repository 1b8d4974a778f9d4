using System.ComponentModel.DataAnnotations;

namespace Lockstep.Server;

/// <summary>
/// One webhook: an HTTP endpoint the server POSTs committed changes to, in log order, signed with
/// HMAC-SHA256, retried with backoff behind a circuit breaker, and dead-lettered after the last
/// attempt. Bound from <c>Lockstep:Webhooks:NAME</c>.
/// </summary>
public sealed class WebhookOptions
{
    /// <summary>The endpoint (http or https).</summary>
    public Uri? Url { get; set; }

    /// <summary>The shared secret the <c>Lockstep-Signature</c> header is computed with (at least 16 characters).</summary>
    public string Secret { get; set; } = "";

    /// <summary>The collections whose changes are delivered.</summary>
    /// <value>Empty: every collection (system collections never).</value>
    public List<string> Collections { get; } = [];

    /// <summary>The most changes one request carries.</summary>
    /// <value>100.</value>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>How many times a batch is sent before it is dead-lettered and delivery moves on.</summary>
    /// <value>8.</value>
    [Range(1, 1_000)]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The first retry's delay; each later one doubles, with jitter, up to <see cref="MaxBackoff"/>.</summary>
    /// <value>1 second.</value>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between two attempts.</summary>
    /// <value>5 minutes.</value>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one request may take.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Consecutive failed requests after which the endpoint's circuit opens: no request is sent while it is open.</summary>
    /// <value>5.</value>
    [Range(1, 1_000)]
    public int CircuitBreakerFailures { get; set; } = 5;

    /// <summary>How long the circuit stays open before one trial request.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}
