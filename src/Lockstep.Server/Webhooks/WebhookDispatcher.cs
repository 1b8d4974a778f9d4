using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Runs every configured webhook's delivery loop. On a shared store (a cluster) one node at a time
/// delivers, holding the <c>webhooks</c> lease; the cursors' versions fence out a node that lost it.
/// </summary>
internal sealed class WebhookDispatcher : IHostedService, IAsyncDisposable
{
    private readonly IChangeStore _store;
    private readonly EngineLifetime _lifetime;
    private readonly LockstepOptions _options;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<WebhookChannel> _channels = [];
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public WebhookDispatcher(IChangeStore store, FanOut fanOut, Sequencer sequencer, EngineLifetime lifetime, IOptions<LockstepOptions> options,
        ILogger<WebhookDispatcher> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _lifetime = lifetime;
        _options = options.Value;
        _logger = logger;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }) { Timeout = Timeout.InfiniteTimeSpan };
        var breakers = new Dictionary<string, Polly.ResiliencePipeline<HttpResponseMessage>>(StringComparer.Ordinal);
        foreach (var (name, webhook) in _options.Webhooks)
        {
            Validate(name, webhook);
            // One circuit per endpoint, shared by the webhooks that post to it.
            var endpoint = webhook.Url!.GetLeftPart(UriPartial.Path);
            if (!breakers.TryGetValue(endpoint, out var pipeline))
            {
                pipeline = WebhookChannel.Pipeline(webhook, time);
                breakers[endpoint] = pipeline;
            }
            _channels.Add(new WebhookChannel(name, webhook, new WebhookLog(store, fanOut, sequencer, _options.ClusterPollInterval), _http, pipeline, logger, time));
        }
    }

    /// <summary>The webhooks, by name.</summary>
    public IReadOnlyList<WebhookChannel> Channels => _channels;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_channels.Count > 0)
        {
            _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        // DI disposes it twice: as itself and as the hosted service.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
        _http.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await _lifetime.Started.WaitAsync(cancellationToken);
        if (_store is not ISharedChangeStore shared)
        {
            await Task.WhenAll(_channels.Select(c => c.RunAsync(cancellationToken)));
            return;
        }
        // A cluster: deliver while holding the lease; try for it while another node holds it.
        while (!cancellationToken.IsCancellationRequested)
        {
            IStoreLease? lease = null;
            try
            {
                lease = await shared.TryAcquireLeaseAsync("webhooks", _options.NodeId, cancellationToken);
                if (lease is null)
                {
                    await Task.Delay(_options.ClusterHeartbeatInterval, _time, cancellationToken);
                    continue;
                }
                Log.LeaseTaken(_logger, lease.Name, lease.FencingToken);
                using var held = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var deliveries = Task.WhenAll(_channels.Select(c => c.RunAsync(held.Token)));
                while (!deliveries.IsCompleted && await lease.IsHeldAsync(cancellationToken))
                {
                    await Task.WhenAny(deliveries, Task.Delay(_options.ClusterHeartbeatInterval, _time, cancellationToken));
                }
                await held.CancelAsync();
                await deliveries.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                Log.LeaseLost(_logger, lease.Name, lease.FencingToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.HeartbeatFailed(_logger, e);
                await Task.Delay(_options.ClusterHeartbeatInterval, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            finally
            {
                if (lease is not null)
                {
                    await lease.DisposeAsync();
                }
            }
        }
    }

    private static void Validate(string name, WebhookOptions options)
    {
        if (!Names.IsValidId(name) || name.Length > 64)
        {
            throw new FormatException($"'{name}' is not a webhook name (1 to 64 characters, no '/').");
        }
        if (options.Url is not { IsAbsoluteUri: true } url || url.Scheme is not ("http" or "https"))
        {
            throw new FormatException($"Webhook '{name}': Url must be an absolute http or https URL.");
        }
        if (options.Secret.Length < 16)
        {
            throw new FormatException($"Webhook '{name}': Secret must be at least 16 characters.");
        }
        if (options.Collections.FirstOrDefault(c => !Names.IsValidCollection(c) || SystemCollections.IsSystem(c)) is { } bad)
        {
            throw new FormatException($"Webhook '{name}': '{bad}' is not a collection it may deliver.");
        }
        if (options.InitialBackoff <= TimeSpan.Zero || options.MaxBackoff < options.InitialBackoff || options.Timeout <= TimeSpan.Zero || options.CircuitBreakDuration <= TimeSpan.Zero)
        {
            throw new FormatException($"Webhook '{name}': InitialBackoff, MaxBackoff, Timeout and CircuitBreakDuration must be positive, MaxBackoff at least InitialBackoff.");
        }
    }
}
