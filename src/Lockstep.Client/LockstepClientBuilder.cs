using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>Builds a <see cref="LockstepClient"/>: <c>new LockstepClientBuilder().WithUrl(url).Build()</c>.</summary>
public sealed class LockstepClientBuilder
{
    private readonly LockstepClientOptions _options = new();

    /// <summary>Adds a server's sync endpoint; several give failover, tried in order.</summary>
    public LockstepClientBuilder WithUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        _options.Urls.Add(url);
        return this;
    }

    /// <summary>Sets this installation's client id (otherwise kept in the local store).</summary>
    public LockstepClientBuilder WithClientId(string clientId)
    {
        _options.ClientId = clientId;
        return this;
    }

    /// <summary>Keeps cache and write queue in this SQLite file.</summary>
    public LockstepClientBuilder WithLocalStore(string path)
    {
        _options.UseLocalStore = true;
        _options.LocalStorePath = path;
        return this;
    }

    /// <summary>Keeps everything in memory: a process restart loses the cache and unconfirmed writes.</summary>
    public LockstepClientBuilder WithoutLocalStore()
    {
        _options.UseLocalStore = false;
        return this;
    }

    /// <summary>Sets the reconnection delays (reconnection itself is always on).</summary>
    public LockstepClientBuilder WithAutomaticReconnect(TimeSpan? baseDelay = null, TimeSpan? maxDelay = null)
    {
        _options.ReconnectBaseDelay = baseDelay ?? _options.ReconnectBaseDelay;
        _options.ReconnectMaxDelay = maxDelay ?? _options.ReconnectMaxDelay;
        return this;
    }

    /// <summary>Sets the encoding of the frames (JSON unless set); <see cref="LockstepEncoding.MessagePack"/> needs a server that speaks it.</summary>
    public LockstepClientBuilder WithEncoding(LockstepEncoding encoding)
    {
        _options.Encoding = encoding;
        return this;
    }

    /// <summary>Sets the token provider, asked at every connection.</summary>
    public LockstepClientBuilder WithTokenProvider(Func<CancellationToken, ValueTask<string?>> provider)
    {
        _options.TokenProvider = provider;
        return this;
    }

    /// <summary>Sets the logger factory.</summary>
    public LockstepClientBuilder WithLogging(ILoggerFactory loggerFactory)
    {
        _options.LoggerFactory = loggerFactory;
        return this;
    }

    /// <summary>Changes any other option.</summary>
    public LockstepClientBuilder Configure(Action<LockstepClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(_options);
        return this;
    }

    /// <summary>Builds the client; call <see cref="LockstepClient.StartAsync"/> to connect.</summary>
    public LockstepClient Build() => new(_options);
}
