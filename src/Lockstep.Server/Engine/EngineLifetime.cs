using Microsoft.Extensions.Hosting;

namespace Lockstep.Server;

/// <summary>
/// The engine's lifecycle signals, for every service that must wait for the store to open or stop when
/// the server does. <see cref="LockstepEngine"/> raises them; nothing here depends on the engine, so the
/// sequencer's collaborators (commit observers) may wait on them too.
/// </summary>
internal sealed class EngineLifetime : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _closingConnections = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public EngineLifetime(IHostApplicationLifetime? lifetime = null)
    {
        // Connections are told first, when the application starts stopping: before the web server
        // stops (it would abort them) and before the sequencer drains.
        lifetime?.ApplicationStopping.Register(CloseConnections);
    }

    /// <summary>Completes once the store is open and the sequencer runs; faults when starting failed.</summary>
    public Task Started => _started.Task;

    /// <summary>Cancelled when the server stops (after the sequencer drained).</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Cancelled when connections should say goodbye (the application is stopping).</summary>
    public CancellationToken ClosingConnections => _closingConnections.Token;

    /// <summary>
    /// Waits for <see cref="Started"/>: true once the engine runs; false when it failed to start (it reports
    /// that itself) or <paramref name="cancellationToken"/> ended the wait — a background service then just returns.
    /// </summary>
    public async Task<bool> WaitStartedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _started.Task.WaitAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (e is OperationCanceledException || _started.Task.IsFaulted)
        {
            return false;
        }
    }

    public void MarkStarted() => _started.TrySetResult();

    public void MarkFailed(Exception exception) => _started.TrySetException(exception);

    public void CloseConnections()
    {
        try
        {
            _closingConnections.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The host stopped after the container was disposed: nobody is left to tell.
        }
    }

    public Task StopAsync() => _stopping.CancelAsync();

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _closingConnections.Dispose();
    }
}
