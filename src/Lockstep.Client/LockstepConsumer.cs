using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Lockstep.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Client;

/// <summary>
/// One member of a consumer group (docs/microservices.md): it claims a share of the group's partitions,
/// reads their changes in seq order, hands each to the handler — one at a time per partition, so each
/// document's changes are handled in order — and commits only what the handler finished. At least once:
/// after a crash or a rebalance, whatever was handled but not yet committed is delivered again (use
/// <see cref="LockstepInbox"/> to make effects exactly once). Start it as a hosted service, or with
/// <see cref="StartAsync"/>; <see cref="StopAsync"/> finishes the changes being handled, commits, and leaves the group.
/// </summary>
public sealed partial class LockstepConsumer : IHostedService, IAsyncDisposable
{
    private readonly Uri[] _urls;
    private readonly string _group;
    private readonly string[] _collections;
    private readonly Func<ConsumedChange, CancellationToken, ValueTask> _handler;
    private readonly ConsumerOptions _options;
    private readonly Func<CancellationToken, ValueTask<string?>>? _tokenProvider;
    private readonly ILogger _logger;
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Lock _gate = new();
    private readonly Dictionary<int, PartitionWork> _partitions = [];
    private readonly SemaphoreSlim _concurrency;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstClaim = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loops = Task.CompletedTask;
    private int _urlIndex;
    private int _state;

    /// <summary>A member of <paramref name="group"/> reading <paramref name="collections"/> from a server.</summary>
    /// <param name="servers">The servers' base URLs (<c>http://host:5080</c>) or sync URLs (<c>ws://host:5080/v1/sync</c>); tried in turn.</param>
    /// <param name="group">The group's name.</param>
    /// <param name="collections">The collections the group reads (the same for every member).</param>
    /// <param name="handler">Called once per change, per partition in seq order; throw to have it retried.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="tokenProvider">Supplies the bearer token (API key or JWT) for each request.</param>
    /// <param name="loggerFactory">Logging.</param>
    public LockstepConsumer(IEnumerable<Uri> servers, string group, IEnumerable<string> collections, Func<ConsumedChange, CancellationToken, ValueTask> handler,
        ConsumerOptions? options = null, Func<CancellationToken, ValueTask<string?>>? tokenProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(collections);
        ArgumentNullException.ThrowIfNull(handler);
        _urls = [.. servers.Select(RestResponses.ApiBase)];
        if (_urls.Length == 0)
        {
            throw new ArgumentException("At least one server URL is needed.", nameof(servers));
        }
        _group = group;
        _collections = [.. collections.Distinct(StringComparer.Ordinal)];
        _handler = handler;
        _options = options ?? new ConsumerOptions();
        if (_options.Lease < TimeSpan.FromMilliseconds(200) || _options.Lease > TimeSpan.FromMinutes(10))
        {
            // The server would refuse every claim; say so here rather than through a consumer that never joins.
            throw new ArgumentOutOfRangeException(nameof(options), _options.Lease, "ConsumerOptions.Lease must be from 200 milliseconds to 10 minutes.");
        }
        _tokenProvider = tokenProvider;
        _logger = loggerFactory?.CreateLogger<LockstepConsumer>() ?? NullLogger<LockstepConsumer>.Instance;
        _concurrency = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrency));
    }

    /// <summary>The group.</summary>
    public string Group => _group;

    /// <summary>This member's id.</summary>
    public string Member => _options.Member;

    /// <summary>The partitions this member holds now.</summary>
    public IReadOnlyList<int> Partitions
    {
        get
        {
            lock (_gate)
            {
                return [.. _partitions.Keys.Order()];
            }
        }
    }

    /// <summary>Completes once the first claim has been answered (the member has joined).</summary>
    public Task Joined => _firstClaim.Task;

    /// <summary>Joins the group and starts consuming in the background.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The consumer was started already.");
        }
        var token = _stopping.Token;
        _loops = Task.WhenAll(
            Task.Run(() => ClaimLoopAsync(token), CancellationToken.None),
            Task.Run(() => FetchLoopAsync(token), CancellationToken.None),
            Task.Run(() => CommitLoopAsync(token), CancellationToken.None));
        return Task.CompletedTask;
    }

    /// <summary>Stops fetching, lets the handler finish the changes it is on, commits what was handled, and leaves the group so others take its partitions at once.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _loops.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        List<PartitionWork> works;
        lock (_gate)
        {
            works = [.. _partitions.Values];
        }
        foreach (var work in works)
        {
            // Queued changes are dropped unhandled (Pending stays above zero, so the commit below stops at
            // what was handled and the group's next holder gets them); the change being handled finishes.
            while (work.Queue.Reader.TryRead(out _))
            {
            }
            work.Queue.Writer.TryComplete();
        }
        try
        {
            await Task.WhenAll(works.Select(w => w.Worker)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of patience (a handler retrying a failure): cancel the handlers; what they did not finish is redelivered.
            foreach (var work in works)
            {
                await work.Cancel.CancelAsync().ConfigureAwait(false);
            }
        }
        try
        {
            await CommitAsync(cancellationToken).ConfigureAwait(false);
            await PostAsync("leave", new JsonObject { ["member"] = Member }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException)
        {
            Log.ConsumerStopFailed(_logger, e, _group);
        }
    }

    /// <summary>Stops (as <see cref="StopAsync"/>) and releases the HTTP client.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await StopAsync(timeout.Token).ConfigureAwait(false);
        }
        _stopping.Dispose();
        _http.Dispose();
        _concurrency.Dispose();
    }

    /// <summary>The work of one held partition under one epoch.</summary>
    private sealed class PartitionWork(int partition, long epoch, long checkpoint)
    {
        public int Partition { get; } = partition;

        public long Epoch { get; } = epoch;

        /// <summary>Every change of the partition up to here has been fetched (and queued).</summary>
        public long Fetched { get; set; } = checkpoint;

        /// <summary>The last change the handler finished.</summary>
        public long Handled { get; set; } = checkpoint;

        public long Committed { get; set; } = checkpoint;

        /// <summary>Queued changes the handler has not finished.</summary>
        public int Pending { get; set; }

        public Channel<ConsumedChange> Queue { get; } = Channel.CreateUnbounded<ConsumedChange>(); // the worker reads; StopAsync drains too

        public CancellationTokenSource Cancel { get; } = new();

        public Task Worker { get; set; } = Task.CompletedTask;

        /// <summary>How far the group may commit: everything fetched once nothing queued is left, else what was handled.</summary>
        public long CommitTarget => Pending == 0 ? Fetched : Handled;
    }

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        var url = _urls[Volatile.Read(ref _urlIndex) % _urls.Length];
        using var request = new HttpRequestMessage(method, new Uri(url, path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        if (_tokenProvider is not null && await _tokenProvider(cancellationToken).ConfigureAwait(false) is { Length: > 0 } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _urlIndex); // the next server, next time
            throw;
        }
        using (response)
        {
            var json = await RestResponses.ReadAsync(response, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw RestResponses.ToException(response, json);
            }
            return json;
        }
    }

    private Task<JsonNode?> PostAsync(string action, JsonObject body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"groups/{Uri.EscapeDataString(_group)}/{action}", body, cancellationToken);
}
