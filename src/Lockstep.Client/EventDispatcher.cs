using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>Runs hooks and events one at a time, in the order they were queued, on the configured synchronization context.</summary>
internal sealed class EventDispatcher : IAsyncDisposable
{
    private readonly Channel<Action> _queue = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SynchronizationContext? _context;
    private readonly ILogger _logger;
    private readonly Task _loop;

    public EventDispatcher(SynchronizationContext? context, ILogger logger)
    {
        _context = context;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    public void Post(Action action) => _queue.Writer.TryWrite(action);

    private async Task RunAsync()
    {
        await foreach (var action in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_context is null)
            {
                Invoke(action);
                continue;
            }
            // Wait for each callback, so callbacks stay in order whatever the context does with posts.
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _context.Post(_ =>
            {
                Invoke(action);
                done.TrySetResult();
            }, null);
            await done.Task.ConfigureAwait(false);
        }
    }

    private void Invoke(Action action)
    {
        try
        {
            action();
        }
#pragma warning disable CA1031 // A failing user callback must not stop the client's event stream.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.CallbackFailed(_logger, e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}
