using System.Threading.Channels;
using Lockstep.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Keeps this node's fan-out in step with a log that other nodes append to as well (a shared store).
/// The fan-out must see every change once, in seq order: this node's own batches are published at
/// once when they continue the fan-out's head; anything else — other nodes' commits, or a local batch
/// that landed after one of theirs — is read from the store by position. Notifications only wake the
/// reader early; a timer reads anyway, so a lost notification costs latency, never a change.
/// As a hosted service it reads, and listens for notifications, only when the store is shared; on one
/// node the fan-out observes the sequencer itself and this does nothing.
/// </summary>
internal sealed class LogFollower : BackgroundService, ICommitObserver
{
    private const int PageSize = 1000;
    private readonly IChangeStore _store;
    private readonly FanOut _fanOut;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _publishGate = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>
    /// The last body this node published for each document, by the seq that wrote it: the before image
    /// of the document's next change, so filling one costs no store read (bounded; a miss reads the store).
    /// </summary>
    private readonly Dictionary<(string Collection, string Id), (long Seq, string? Json)> _lastBodies = [];
    private long _lastBodiesBytes;
    private const long LastBodiesMaxBytes = 32L << 20;

    private readonly LogHorizon _horizon;
    private readonly EngineLifetime _lifetime;

    public LogFollower(IChangeStore store, FanOut fanOut, LogHorizon horizon, EngineLifetime lifetime, IOptions<LockstepOptions> options, ILogger<LogFollower> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _horizon = horizon;
        _lifetime = lifetime;
        _store = store;
        _fanOut = fanOut;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Called by the sequencer after its commit: publishes the changes when they continue the head, else wakes the reader.</summary>
    public void OnCommitted(CommittedBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Changes is { } changes)
        {
            OnLocalCommit(changes);
        }
    }

    /// <summary>Publishes a batch this node committed when it continues the head, else wakes the reader.</summary>
    public void OnLocalCommit(ChangeBatch batch)
    {
        lock (_publishGate)
        {
            if (batch.Changes.Count > 0 && batch.Changes[0].Seq == _fanOut.Head + 1)
            {
                Remember(batch.Changes);
                _fanOut.Publish(batch);
                return;
            }
        }
        Wake();
    }

    /// <summary>A hint that the log moved (a notification, a local commit out of turn).</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_store is not ISharedChangeStore shared)
        {
            return;
        }
        if (!await _lifetime.WaitStartedAsync(stoppingToken))
        {
            return;
        }
        await Task.WhenAll(RunAsync(stoppingToken), WatchNotificationsAsync(shared, stoppingToken));
    }

    /// <summary>Reads after every hint, and every <see cref="LockstepOptions.ClusterPollInterval"/> without one.</summary>
    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using (var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    poll.CancelAfter(_options.ClusterPollInterval);
                    try
                    {
                        await _wake.Reader.ReadAsync(poll.Token);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The poll interval passed without a hint: read anyway.
                    }
                }
                await CatchUpAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The store may be restarting; the next round tries again.
                Log.FollowFailed(_logger, e);
                await Task.Delay(_options.ClusterPollInterval, cancellationToken);
            }
        }
    }

    /// <summary>Commit notifications wake the reader; when listening fails, polling covers it until it works again.</summary>
    private async Task WatchNotificationsAsync(ISharedChangeStore shared, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var head in shared.WatchHeadAsync(cancellationToken))
                {
                    if (head > _fanOut.Head)
                    {
                        Wake();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.NotificationsFailed(_logger, e);
                try
                {
                    await Task.Delay(_options.ClusterPollInterval, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private bool TryRecall(Change change, out string? previous)
    {
        lock (_publishGate)
        {
            if (_lastBodies.TryGetValue((change.Collection, change.Id), out var last) && last.Seq == change.PreviousSeq)
            {
                previous = last.Json;
                return true;
            }
        }
        previous = null;
        return false;
    }

    /// <summary>Remembers the bodies of published changes. Under the publish gate.</summary>
    private void Remember(IReadOnlyList<Change> changes)
    {
        foreach (var change in changes)
        {
            var key = (change.Collection, change.Id);
            if (_lastBodies.TryGetValue(key, out var old))
            {
                _lastBodiesBytes -= Size(key, old.Json);
            }
            _lastBodies[key] = (change.Seq, change.DocumentJson);
            _lastBodiesBytes += Size(key, change.DocumentJson);
        }
        if (_lastBodiesBytes > LastBodiesMaxBytes)
        {
            // Crude but bounded: forget everything; misses read the store until it fills again.
            _lastBodies.Clear();
            _lastBodiesBytes = 0;
        }
    }

    private static long Size((string Collection, string Id) key, string? json) => 64 + 2L * (key.Collection.Length + key.Id.Length + (json?.Length ?? 0));

    /// <summary>Reads and publishes everything committed after the fan-out's head.</summary>
    public async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await using var reader = await _store.BeginReadAsync(cancellationToken);
            // Another node may have compacted: hellos on this node must hear the true horizon.
            _horizon.Observe(reader.Horizon);
            var after = _fanOut.Head;
            if (reader.Head <= after)
            {
                return;
            }
            if (reader.Horizon > after)
            {
                // This node fell further behind than the log retains. Its sessions are sent back to the
                // store, where they find the horizon past their position and reset; the fan-out jumps.
                Log.FollowerBehindHorizon(_logger, after, reader.Horizon);
                lock (_publishGate)
                {
                    _fanOut.Jump(reader.Horizon);
                }
                continue;
            }
            var page = await reader.ReadChangesAsync(after, null, PageSize, cancellationToken);
            if (page.Count == 0)
            {
                return;
            }
            var filled = new List<Change>(page.Count);
            // Bodies written earlier in this page, by seq: a hot document's previous version is often here.
            var inPage = new Dictionary<long, string?>();
            foreach (var change in page)
            {
                // Filtered subscriptions need the before image to tell "changed" from "entered" and "left".
                if (change.PreviousSeq == 0)
                {
                    filled.Add(change.WithPrevious(null, true));
                }
                else if (change.PreviousKnown)
                {
                    filled.Add(change);
                }
                else if (inPage.TryGetValue(change.PreviousSeq, out var previous) || TryRecall(change, out previous))
                {
                    filled.Add(change.WithPrevious(previous, true));
                }
                else
                {
                    var (found, json) = await reader.GetBodyAsync(change.PreviousSeq, cancellationToken);
                    filled.Add(change.WithPrevious(json, found));
                }
                inPage[change.Seq] = change.DocumentJson;
            }
            lock (_publishGate)
            {
                var fresh = filled.Where(c => c.Seq > _fanOut.Head).ToList();
                if (fresh.Count > 0 && fresh[0].Seq == _fanOut.Head + 1)
                {
                    Remember(fresh);
                    _fanOut.Publish(new ChangeBatch(fresh, fresh[^1].Seq));
                }
            }
            if (page.Count < PageSize)
            {
                return;
            }
        }
    }
}
