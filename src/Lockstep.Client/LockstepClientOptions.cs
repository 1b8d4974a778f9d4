using System.Text.Json;
using Microsoft.Extensions.Logging;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>Options of a <see cref="LockstepClient"/>. Read once, when the client is built.</summary>
public sealed class LockstepClientOptions
{
    /// <summary>The servers' sync endpoints (<c>ws://host:port/v1/sync</c>); the client fails over from one to the next.</summary>
    public IList<Uri> Urls { get; } = [];

    /// <summary>This client installation's id; it keys the exactly-once numbering of writes.</summary>
    /// <value>Null: the id kept in the local store, or a new random one saved there (a new one per client object when the store is off).</value>
    public string? ClientId { get; set; }

    /// <summary>Whether the cache, the subscriptions, the cursor and the queue of unconfirmed writes are kept in a local SQLite file.</summary>
    /// <value>True.</value>
    public bool UseLocalStore { get; set; } = true;

    /// <summary>The local store's file. One client at a time may open it.</summary>
    /// <value>Null: <c>lockstep/&lt;entry assembly&gt;.client.db</c> under the user's local application data folder.</value>
    public string? LocalStorePath { get; set; }

    /// <summary>Supplies the token sent in <c>hello</c>, asked anew at every connection (for servers with authentication).</summary>
    /// <value>None.</value>
    public Func<CancellationToken, ValueTask<string?>>? TokenProvider { get; set; }

    /// <summary>How often to send a <c>ping</c>; a connection that receives nothing for two intervals is treated as dead.</summary>
    /// <value>Null: the interval the server names in <c>welcome</c> (15 s by default).</value>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>How long connecting, the hello, and a write's acknowledgement may take on a live connection before the connection is given up and replaced.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first delay between reconnection attempts; it doubles up to <see cref="ReconnectMaxDelay"/>, with full jitter.</summary>
    /// <value>200 milliseconds.</value>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest delay between reconnection attempts.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>After this many failed connection attempts in a row to one URL, its circuit opens and the URL is skipped for <see cref="CircuitBreakDuration"/>.</summary>
    /// <value>5.</value>
    public int CircuitBreakerFailures { get; set; } = 5;

    /// <summary>How long an open circuit keeps a URL out of rotation before one trial attempt (half-open).</summary>
    /// <value>10 seconds.</value>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where hooks, change events and state events run. They always run one at a time, in order.</summary>
    /// <value>Null: on a thread-pool thread.</value>
    public SynchronizationContext? EventContext { get; set; }

    /// <summary>How typed collections convert documents to and from their types.</summary>
    /// <value><see cref="JsonSerializerDefaults.Web"/> (camelCase names, case-insensitive reads).</value>
    public JsonSerializerOptions JsonOptions { get; set; } = new(JsonSerializerDefaults.Web);

    /// <summary>Logging.</summary>
    /// <value>None.</value>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal string ResolveStorePath()
    {
        if (LocalStorePath is { Length: > 0 } path)
        {
            return path;
        }
        var app = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "app";
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "lockstep", app + ".client.db");
    }

    internal void Validate()
    {
        if (Urls.Count == 0)
        {
            throw new ArgumentException("Give at least one server URL.");
        }
        foreach (var url in Urls)
        {
            if (url is null || !url.IsAbsoluteUri || (url.Scheme != "ws" && url.Scheme != "wss"))
            {
                throw new ArgumentException($"'{url}' is not a ws:// or wss:// URL.");
            }
        }
        if (ClientId is not null && !Names.IsValidClientId(ClientId))
        {
            throw new ArgumentException($"'{ClientId}' is not a valid client id.");
        }
        if (RequestTimeout <= TimeSpan.Zero || ReconnectBaseDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectBaseDelay)
        {
            throw new ArgumentException("RequestTimeout and ReconnectBaseDelay must be positive, and ReconnectMaxDelay at least ReconnectBaseDelay.");
        }
        if (HeartbeatInterval is { } h && h <= TimeSpan.Zero)
        {
            throw new ArgumentException("HeartbeatInterval must be positive.");
        }
        if (CircuitBreakerFailures < 2 || CircuitBreakDuration < TimeSpan.FromMilliseconds(500))
        {
            throw new ArgumentException("CircuitBreakerFailures must be at least 2 and CircuitBreakDuration at least 500 ms.");
        }
    }
}
