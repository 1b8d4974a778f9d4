using System.Data.Common;

namespace Lockstep.Outbox;

/// <summary>Configures an <see cref="OutboxRelay"/>. Checked when the relay is created.</summary>
public sealed class OutboxRelayOptions
{
    /// <summary>Opens connections to the service's database, the one that holds the outbox (for example <c>NpgsqlDataSource</c>, or <c>SqliteFactory.Instance.CreateDataSource(connectionString)</c>).</summary>
    /// <value>Required.</value>
    public DbDataSource? DataSource { get; set; }

    /// <summary>The Lockstep server's REST base, the prefix of <c>/mutations</c>, for example <c>http://lockstep:5080/v1/</c>.</summary>
    /// <value>Required.</value>
    public Uri? ServerUrl { get; set; }

    /// <summary>The in-process outbox whose enqueues wake the relay at once; without it the relay polls.</summary>
    /// <value>None.</value>
    public Outbox? Outbox { get; set; }

    /// <summary>A fixed bearer token (an API key such as <c>lsk_…</c>, or a JWT) sent as <c>Authorization: Bearer</c> on every request.</summary>
    /// <value>None.</value>
    public string? AccessToken { get; set; }

    /// <summary>Supplies the bearer token before every request (for tokens that expire); wins over <see cref="AccessToken"/>. Null means no header.</summary>
    /// <value>None.</value>
    public Func<CancellationToken, ValueTask<string?>>? AccessTokenProvider { get; set; }

    /// <summary>The HTTP client to publish with; the relay does not dispose it. Without one the relay makes and owns its own.</summary>
    /// <value>None.</value>
    public HttpClient? HttpClient { get; set; }

    /// <summary>How many pending rows one read takes (they are still published one at a time, in id order).</summary>
    /// <value>100.</value>
    public int BatchSize { get; set; } = 100;

    /// <summary>How often the relay looks for rows when nothing woke it.</summary>
    /// <value>1 second.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one publish request may take before it counts as a transient failure.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first delay before retrying a transient failure; later delays grow exponentially, with jitter.</summary>
    /// <value>200 milliseconds.</value>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest delay between two retries. Transient failures are retried without limit: the rows after wait.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Published rows older than this are deleted (ids are never reused, so this is safe); refused
    /// rows are kept for inspection. Null keeps every row.
    /// </summary>
    /// <value>7 days.</value>
    public TimeSpan? PublishedRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Called after a row was refused by the server and recorded as refused (see <see cref="OutboxRefusal"/>); an exception it throws is logged and ignored.</summary>
    /// <value>None.</value>
    public Func<OutboxRefusal, CancellationToken, ValueTask>? OnRefused { get; set; }

    /// <summary>The clock for delays, polling and timestamps.</summary>
    /// <value><see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (DataSource is null)
        {
            throw new ArgumentException("OutboxRelayOptions.DataSource is required.");
        }
        if (ServerUrl is not { IsAbsoluteUri: true } url || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException("OutboxRelayOptions.ServerUrl must be an absolute http(s) URL such as http://lockstep:5080/v1/.");
        }
        if (BatchSize is < 1 or > 10_000)
        {
            throw new ArgumentException("OutboxRelayOptions.BatchSize must be 1 to 10,000.");
        }
        if (PollInterval <= TimeSpan.Zero || RequestTimeout <= TimeSpan.Zero || RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new ArgumentException("OutboxRelayOptions: PollInterval, RequestTimeout and RetryBaseDelay must be positive, RetryMaxDelay at least RetryBaseDelay.");
        }
        if (PublishedRetention <= TimeSpan.Zero)
        {
            throw new ArgumentException("OutboxRelayOptions.PublishedRetention must be positive, or null to keep every row.");
        }
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }

    /// <summary>The URL of <c>POST mutations</c> under <see cref="ServerUrl"/> (a missing trailing slash is forgiven).</summary>
    internal Uri MutationsUrl
    {
        get
        {
            var text = ServerUrl!.AbsoluteUri;
            return new Uri(new Uri(text.EndsWith('/') ? text : text + "/"), "mutations");
        }
    }
}
