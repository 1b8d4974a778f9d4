using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Client;

/// <summary>
/// A durable process manager (docs/microservices.md, "Sagas"): each saga of one type runs its steps in
/// order, and when a step fails (after <see cref="SagaOptions.MaxStepAttempts"/> attempts, each within
/// <see cref="SagaOptions.StepTimeout"/>) runs the compensations of the steps before it in reverse. Its
/// state is a document in a Lockstep collection, written after every step under its version: a runner
/// owns a saga under a lease, and when it dies another runner resumes the saga from the last step
/// recorded. Steps and compensations therefore run at least once: make them idempotent.
/// </summary>
public sealed class SagaRunner : IHostedService, IAsyncDisposable
{
    private readonly string _type;
    private readonly IReadOnlyList<SagaStep> _steps;
    private readonly SagaOptions _options;
    private readonly ILogger _logger;
    private readonly SagaDocuments _documents;
    private readonly SagaExecutor _executor;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private Task _loop = Task.CompletedTask;

    /// <summary>A runner of the sagas of <paramref name="type"/>.</summary>
    /// <param name="server">The server's base URL (<c>http://host:5080</c>) or sync URL.</param>
    /// <param name="type">The saga type (a field of each state document): this runner runs only these.</param>
    /// <param name="steps">The steps, in order.</param>
    /// <param name="options">Settings.</param>
    /// <param name="tokenProvider">The bearer token (an API key) for the server.</param>
    /// <param name="loggerFactory">Logging.</param>
    public SagaRunner(Uri server, string type, IReadOnlyList<SagaStep> steps, SagaOptions? options = null,
        Func<CancellationToken, ValueTask<string?>>? tokenProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0)
        {
            throw new ArgumentException("A saga has at least one step.", nameof(steps));
        }
        _type = type;
        _steps = steps;
        _options = options ?? new SagaOptions();
        _logger = loggerFactory?.CreateLogger<SagaRunner>() ?? NullLogger<SagaRunner>.Instance;
        _documents = new SagaDocuments(RestResponses.ApiBase(server), _options.Collection, tokenProvider);
        _executor = new SagaExecutor(type, steps, _options, _documents, _logger);
        _slots = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrency));
    }

    /// <summary>
    /// Starts a saga, unless one with this id exists already (so a trigger delivered twice starts it
    /// once). True when this call created it. A running runner (this one or another) picks it up.
    /// </summary>
    public async Task<bool> StartSagaAsync(string sagaId, JsonObject data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sagaId);
        ArgumentNullException.ThrowIfNull(data);
        var now = DateTimeOffset.UtcNow;
        var state = new JsonObject
        {
            ["type"] = _type,
            ["status"] = SagaExecutor.Running,
            ["step"] = 0,
            ["stepName"] = _steps[0].Name,
            ["data"] = data.DeepClone(),
            ["leaseUntil"] = 0L,
            ["startedAt"] = now.ToString("O", CultureInfo.InvariantCulture),
        };
        var created = await _documents.WriteAsync(sagaId, state, ifVersion: 0, cancellationToken).ConfigureAwait(false) is not null;
        if (created)
        {
            Log.SagaStarted(_logger, _type, sagaId);
        }
        return created;
    }

    /// <summary>For tests: the runner dies on the spot — nothing more is recorded, steps in flight finish unrecorded, leases run out.</summary>
    internal void Crash()
    {
        _executor.Crash();
        _stopping.Cancel();
    }

    /// <summary>Starts looking for sagas to run (new ones, and those whose runner's lease ran out).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => PollAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops: the steps running now finish and are recorded; sagas not finished are resumed by a runner later.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Task.WhenAll(_running.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Stops and releases.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        _documents.Dispose();
        _slots.Dispose();
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // Only sagas that no runner holds: new ones, ended leases (the server filters; this runner's own are skipped below).
            var filter = new JsonObject
            {
                ["type"] = _type,
                ["status"] = new JsonObject { ["$in"] = new JsonArray(SagaExecutor.Running, SagaExecutor.Compensating) },
                ["leaseUntil"] = new JsonObject { ["$lte"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() },
            };
            try
            {
                string? after = null;
                do
                {
                    (var docs, after) = await _documents.ListAsync(filter, after, cancellationToken).ConfigureAwait(false);
                    foreach (var (id, version, state) in docs)
                    {
                        if (!_running.ContainsKey(id) && (long)state["leaseUntil"]! <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
                        {
                            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                            _running[id] = Task.Run(() => RunGuardedAsync(id, version, state, cancellationToken), CancellationToken.None);
                        }
                    }
                }
                while (after is not null && !cancellationToken.IsCancellationRequested);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
            {
                Log.SagaPollFailed(_logger, e, _type);
            }
            try
            {
                await Task.Delay(_options.PollInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RunGuardedAsync(string id, long version, JsonObject state, CancellationToken cancellationToken)
    {
        try
        {
            await _executor.RunAsync(id, version, state, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping: the saga is resumed when its lease runs out
        }
        catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
        {
            Log.SagaInterrupted(_logger, e, _type, id);
        }
        finally
        {
            _running.TryRemove(id, out _);
            _slots.Release();
        }
    }
}
