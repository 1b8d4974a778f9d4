using System.Net.WebSockets;
using Lockstep.Peers.Serve;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Peers.Bench;

/// <summary>
/// SignalR's .NET client over WebSockets (no negotiate round trip), the readers' sockets opened through the
/// <see cref="CountingConnector"/>: each reader calls <c>Watch</c> for every form; the writer invokes <c>Update</c>.
/// </summary>
internal sealed class SignalRPeerClient : IPeerClient
{
    private readonly Uri _hub;
    private readonly bool _messagePack;
    private readonly CountingConnector _counter;
    private readonly List<HubConnection> _readers = [];
    private readonly List<Task> _pending = [];
    private HubConnection _writer = null!;

    public SignalRPeerClient(Uri server, bool messagePack, CountingConnector counter)
    {
        _hub = new Uri(server, "/hub");
        _messagePack = messagePack;
        _counter = counter;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _writer = Build(counted: false);
        await _writer.StartAsync(cancellationToken);
    }

    public async Task ConnectReadersAsync(int readers, ChangeSeen onSeen, CancellationToken cancellationToken)
    {
        for (var r = 0; r < readers; r++)
        {
            var reader = Build(counted: true);
            _readers.Add(reader);
            reader.On<string, string, string, long>(FormHub.Changed, (_, _, value, _) =>
            {
                var at = System.Diagnostics.Stopwatch.GetTimestamp();
                if (FormWorkload.WriteNumber(value) is { } write)
                {
                    onSeen(write, at);
                }
            });
            await reader.StartAsync(cancellationToken);
            for (var d = 0; d < FormWorkload.Documents; d++)
            {
                await reader.InvokeAsync("Watch", FormWorkload.DocumentId(d), cancellationToken);
            }
        }
    }

    public Task SendAsync(long write, CancellationToken cancellationToken)
    {
        var ack = Update(write, cancellationToken);
        lock (_pending)
        {
            _pending.Add(ack);
        }
        return Task.CompletedTask;
    }

    public Task WriteAsync(long write, CancellationToken cancellationToken) => Update(write, cancellationToken);

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        Task[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
            _pending.Clear();
        }
        await Task.WhenAll(pending).WaitAsync(cancellationToken);
    }

    private Task<long> Update(long write, CancellationToken cancellationToken) =>
        _writer.InvokeAsync<long>("Update", FormWorkload.DocumentOf(write), FormWorkload.Field, FormWorkload.Value(write), cancellationToken);

    private HubConnection Build(bool counted)
    {
        var builder = new HubConnectionBuilder().WithUrl(_hub, HttpTransportType.WebSockets, options =>
        {
            options.SkipNegotiation = true;
            if (counted)
            {
                options.WebSocketFactory = async (context, ct) =>
                {
                    var socket = new ClientWebSocket();
                    try
                    {
                        await socket.ConnectAsync(context.Uri, _counter.Invoker, ct);
                        return socket;
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                };
            }
        });
        if (_messagePack)
        {
            builder.AddMessagePackProtocol();
        }
        return builder.Build();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var reader in _readers)
        {
            await reader.DisposeAsync();
        }
        if (_writer is not null)
        {
            await _writer.DisposeAsync();
        }
    }
}
