using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// Runs sagas of one type that a <see cref="SagaRunner"/> found: claims each under a lease (renewed while it runs),
/// runs its steps forward or its compensations back, and records the state after every step under the version
/// last written, so that a runner that lost the saga to another stops without touching it.
/// </summary>
internal sealed class SagaExecutor
{
    /// <summary>The states of a saga document's <c>status</c>.</summary>
    public const string Running = "running";
    public const string Compensating = "compensating";
    public const string Completed = "completed";
    public const string Compensated = "compensated";

    private readonly string _type;
    private readonly IReadOnlyList<SagaStep> _steps;
    private readonly SagaOptions _options;
    private readonly SagaDocuments _documents;
    private readonly ILogger _logger;
    private bool _crashed;

    public SagaExecutor(string type, IReadOnlyList<SagaStep> steps, SagaOptions options, SagaDocuments documents, ILogger logger)
    {
        _type = type;
        _steps = steps;
        _options = options;
        _documents = documents;
        _logger = logger;
    }

    /// <summary>For tests: nothing more is recorded; steps in flight finish unrecorded and leases run out.</summary>
    public void Crash() => Volatile.Write(ref _crashed, true);

    /// <summary>Claims the saga at <paramref name="version"/> and runs it until it ends, is lost to another runner, or the token fires.</summary>
    public async Task RunAsync(string id, long version, JsonObject state, CancellationToken cancellationToken)
    {
        var owned = new Owned(id, version, state);
        try
        {
            // Claim it: a runner that lost the race gets 412 and leaves it.
            await SaveAsync(owned, s =>
            {
                s["owner"] = _options.Runner;
                s["leaseUntil"] = LeaseUntil();
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SagaLostException)
        {
            return;
        }
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewAsync(owned, renewing.Token);
        try
        {
            await StepAsync(owned, cancellationToken).ConfigureAwait(false);
        }
        catch (SagaLostException)
        {
            Log.SagaLost(_logger, _type, id);
        }
        finally
        {
            await renewing.CancelAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            owned.Writing.Dispose();
        }
    }

    private long LeaseUntil() => (DateTimeOffset.UtcNow + _options.Lease).ToUnixTimeMilliseconds();

    /// <summary>Runs the saga forward, or back through its compensations, recording each step, until it ends.</summary>
    private async Task StepAsync(Owned owned, CancellationToken cancellationToken)
    {
        while (true)
        {
            var state = owned.State;
            var data = state["data"]?.DeepClone().AsObject() ?? [];
            switch ((string?)state["status"])
            {
                case Running:
                    var step = (int)state["step"]!;
                    if (step >= _steps.Count)
                    {
                        await SaveAsync(owned, s => End(s, Completed, _options.Runner), cancellationToken).ConfigureAwait(false);
                        Log.SagaEnded(_logger, _type, owned.Id, Completed);
                        return;
                    }
                    var error = await AttemptAsync(_steps[step].Action, owned.Id, data, _options.MaxStepAttempts, cancellationToken).ConfigureAwait(false);
                    if (error is null)
                    {
                        await SaveAsync(owned, s =>
                        {
                            s["data"] = data;
                            s["step"] = step + 1;
                            s["stepName"] = step + 1 < _steps.Count ? _steps[step + 1].Name : null;
                        }, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        Log.SagaStepFailed(_logger, _type, owned.Id, _steps[step].Name, error);
                        // The failed step is compensated too: it may have done part of its work (a charge that timed out).
                        await SaveAsync(owned, s =>
                        {
                            s["status"] = Compensating;
                            s["failedStep"] = _steps[step].Name;
                            s["error"] = error;
                            s["compensate"] = step;
                        }, cancellationToken).ConfigureAwait(false);
                    }
                    break;
                case Compensating:
                    var next = (int)state["compensate"]!;
                    if (next < 0)
                    {
                        await SaveAsync(owned, s => End(s, Compensated, _options.Runner), cancellationToken).ConfigureAwait(false);
                        Log.SagaEnded(_logger, _type, owned.Id, Compensated);
                        return;
                    }
                    if (_steps[next].Compensation is { } compensation)
                    {
                        // A compensation must succeed: it is retried until it does (or the runner stops; another resumes it).
                        await AttemptAsync(compensation, owned.Id, data, int.MaxValue, cancellationToken).ConfigureAwait(false);
                    }
                    await SaveAsync(owned, s =>
                    {
                        s["data"] = data;
                        s["compensate"] = next - 1;
                    }, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    return;
            }
        }
    }

    private static void End(JsonObject state, string status, string runner)
    {
        state["status"] = status;
        state["endedBy"] = runner;
        state["owner"] = null;
        state["leaseUntil"] = 0L;
        state["endedAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
    }

    /// <summary>Runs an action up to <paramref name="attempts"/> times, each within the step timeout; null on success, else the last error.</summary>
    private async Task<string?> AttemptAsync(Func<SagaContext, CancellationToken, Task> action, string id, JsonObject data, int attempts, CancellationToken cancellationToken)
    {
        string? error = null;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.StepTimeout);
            try
            {
                await action(new SagaContext(id, data, attempt), timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
                return null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException)
            {
                error = $"timed out after {_options.StepTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
            }
            catch (Exception e)
            {
                error = $"{e.GetType().Name}: {e.Message}";
            }
            if (attempt < attempts)
            {
                var ceiling = Math.Min(5000, _options.RetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20)));
                await Task.Delay(TimeSpan.FromMilliseconds(ceiling * (0.5 + (Random.Shared.NextDouble() / 2))), cancellationToken).ConfigureAwait(false);
            }
        }
        return error;
    }

    /// <summary>Extends the lease at a third of its length while the saga runs.</summary>
    private async Task RenewAsync(Owned owned, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(_options.Lease / 3, cancellationToken).ConfigureAwait(false);
            await SaveAsync(owned, s => s["leaseUntil"] = LeaseUntil(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the state changed by <paramref name="change"/> under the version last written; <see cref="SagaLostException"/> when another runner wrote since.</summary>
    private async Task SaveAsync(Owned owned, Action<JsonObject> change, CancellationToken cancellationToken)
    {
        await owned.Writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _crashed))
            {
                throw new SagaLostException(owned.Id);
            }
            var next = owned.State.DeepClone().AsObject();
            change(next);
            next["updatedAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            var version = await _documents.WriteAsync(owned.Id, next, owned.Version, CancellationToken.None).ConfigureAwait(false)
                ?? throw new SagaLostException(owned.Id);
            owned.Version = version;
            owned.State = next;
        }
        finally
        {
            owned.Writing.Release();
        }
    }

    /// <summary>A saga this runner owns: its state document and version, written one at a time.</summary>
    private sealed class Owned(string id, long version, JsonObject state)
    {
        public string Id { get; } = id;

        public long Version { get; set; } = version;

        public JsonObject State { get; set; } = state;

        public SemaphoreSlim Writing { get; } = new(1, 1);
    }

    /// <summary>Another runner took the saga (this one's lease ran out): stop without touching it.</summary>
    private sealed class SagaLostException(string id) : Exception($"Saga {id} is owned by another runner now.");
}
