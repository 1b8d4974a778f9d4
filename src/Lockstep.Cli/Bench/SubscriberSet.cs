using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Lockstep.Protocol;

namespace Lockstep.Cli.Bench;

/// <summary>
/// Thousands of subscriber connections in one client process, each with a hello and one subscription to the same
/// collection: opened a few at a time, spread over loopback source addresses (127.0.0.2, 127.0.0.3, …) so that no
/// source address runs out of ephemeral ports, kept alive by one ping loop for all (no timer per connection), each
/// receiving in its own small loop. Stops opening at the first connection the machine refuses (the open-files limit,
/// most often) and says why, rather than failing the run.
/// </summary>
internal sealed class SubscriberSet : IAsyncDisposable
{
    /// <summary>Connections per loopback source address: well inside the ~28,000 ephemeral ports of each.</summary>
    public const int ConnectionsPerSourceAddress = 5000;

    private const int OpeningAtOnce = 32;
    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(10);
    private readonly BenchTarget _target;
    private readonly List<BenchConnection> _connections = [];
    private readonly List<HttpMessageInvoker> _invokers = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _pinging = Task.CompletedTask;

    private SubscriberSet(BenchTarget target)
    {
        _target = target;
    }

    /// <summary>The connections open and subscribed.</summary>
    public int Count => _connections.Count;

    /// <summary>The loopback source addresses used (0 when the servers are not on loopback: the OS picks).</summary>
    public int SourceAddresses => _invokers.Count;

    /// <summary>Why fewer than asked were opened, or null.</summary>
    public string? LimitedBy { get; private set; }

    /// <summary>
    /// Opens up to <paramref name="count"/> subscribers of <paramref name="collection"/> on the nodes in turn (the writer's
    /// node 0 last) and waits for each one's snapshot. <paramref name="onChange"/> sees every change frame after the
    /// snapshot, with the subscriber's index and the frame's bytes on the wire; it runs on the receive loops, at once.
    /// </summary>
    public static async Task<SubscriberSet> OpenAsync(BenchTarget target, string collection, int count, Action<int, ChangeFrame, int> onChange, CancellationToken cancellationToken)
    {
        var set = new SubscriberSet(target);
        var run = BenchWrites.NewRun();
        var loopback = target.SyncUrls.All(u => u.IsLoopback);
        var limit = OpenFilesLimit.Allowing(count, target.Sampler);
        if (limit.Count < count)
        {
            set.LimitedBy = limit.Reason;
            target.Progress.WriteLine($"  {limit.Reason}: opening {limit.Count:N0} of {count:N0}");
        }
        using var gate = new SemaphoreSlim(OpeningAtOnce);
        var opened = new BenchConnection?[limit.Count];
        var failures = 0;
        var tasks = new List<Task>(limit.Count);
        for (var i = 0; i < limit.Count && Volatile.Read(ref failures) == 0; i++)
        {
            await gate.WaitAsync(cancellationToken);
            var index = i;
            var invoker = loopback ? set.InvokerFor(index) : null;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    opened[index] = await OpenOneAsync(target, collection, run, index, invoker, (frame, bytes) => onChange(index, frame, bytes), cancellationToken);
                    if ((index + 1) % 1000 == 0)
                    {
                        target.Progress.WriteLine($"  {index + 1:N0} subscribers open");
                    }
                }
                catch (Exception e) when (e is WebSocketException or IOException or SocketException or TimeoutException or HttpRequestException)
                {
                    if (Interlocked.Increment(ref failures) == 1)
                    {
                        set.LimitedBy = $"connection {index + 1:N0} failed: {Innermost(e).Message}";
                    }
                }
                finally
                {
                    gate.Release();
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(tasks);
        set._connections.AddRange(opened.OfType<BenchConnection>());
        if (set.LimitedBy is not null && failures > 0)
        {
            target.Progress.WriteLine($"  stopped at {set.Count:N0} subscribers: {set.LimitedBy}");
        }
        set._pinging = set.PingAsync();
        return set;
    }

    private static async Task<BenchConnection> OpenOneAsync(BenchTarget target, string collection, string run, int index, HttpMessageInvoker? invoker,
        Action<ChangeFrame, int> onChange, CancellationToken cancellationToken)
    {
        var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clientId = $"bench-{run}-s{index.ToString(CultureInfo.InvariantCulture)}";
        var connection = await BenchConnection.ConnectAsync(target.SyncUrls[(index + 1) % target.SyncUrls.Count],
            new HelloFrame(RawJson.Number(0)) { ClientId = clientId, Protocol = 1 }, target.Codec, invoker, (frame, bytes) =>
            {
                switch (frame)
                {
                    case ChangeFrame change:
                        onChange(change, bytes);
                        break;
                    case SnapshotFrame { Last: true }:
                        subscribed.TrySetResult();
                        break;
                    case ErrorFrame error:
                        subscribed.TrySetException(new IOException($"the subscription was refused: {error.Code} {error.Message}"));
                        break;
                }
            }, cancellationToken);
        try
        {
            await connection.SendAsync(new SubscribeFrame(RawJson.Number(1), new SubscriptionSpec("f", collection)), cancellationToken);
            await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>One handler per source address, its sockets bound to 127.0.0.(2 + index / 5000) before they connect.</summary>
    private HttpMessageInvoker InvokerFor(int index)
    {
        var slot = index / ConnectionsPerSourceAddress;
        lock (_invokers)
        {
            while (_invokers.Count <= slot)
            {
                var source = new IPAddress([127, 0, (byte)((2 + _invokers.Count) / 256), (byte)((2 + _invokers.Count) % 256)]);
                var handler = new SocketsHttpHandler
                {
                    ConnectCallback = async (context, ct) =>
                    {
                        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                        try
                        {
                            socket.Bind(new IPEndPoint(source, 0));
                            await socket.ConnectAsync(context.DnsEndPoint, ct);
                            return new NetworkStream(socket, ownsSocket: true);
                        }
                        catch
                        {
                            socket.Dispose();
                            throw;
                        }
                    },
                };
                _invokers.Add(new HttpMessageInvoker(handler, disposeHandler: true));
            }
            return _invokers[slot];
        }
    }

    /// <summary>One loop pings every connection each 10 s, so that none reaches the server's idle timeout.</summary>
    private async Task PingAsync()
    {
        using var timer = new PeriodicTimer(PingInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                foreach (var connection in _connections)
                {
                    await connection.SendAsync(new PingFrame(RawJson.Number(0)), _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
        }
    }

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _pinging;
        using var gate = new SemaphoreSlim(64);
        await Task.WhenAll(_connections.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                await c.DisposeAsync();
            }
            finally
            {
                gate.Release();
            }
        }));
        foreach (var invoker in _invokers)
        {
            invoker.Dispose();
        }
        _stop.Dispose();
    }
}
