namespace Lockstep.Peers.Bench;

/// <summary>Called by a reader for each change it receives: the write's number and the <c>Stopwatch</c> timestamp of receipt.</summary>
internal delegate void ChangeSeen(long write, long receivedAt);

/// <summary>One kind's readers and its one writer, driven by <see cref="PeerBench"/> with the same workload.</summary>
internal interface IPeerClient : IAsyncDisposable
{
    /// <summary>Creates the forms when the server does not (Lockstep), connects the writer.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Connects <paramref name="readers"/> readers, each watching every form, and returns once each is live.</summary>
    Task ConnectReadersAsync(int readers, ChangeSeen onSeen, CancellationToken cancellationToken);

    /// <summary>Sends write <paramref name="write"/> without waiting for its durable ack (the paced latency workload).</summary>
    Task SendAsync(long write, CancellationToken cancellationToken);

    /// <summary>Sends write <paramref name="write"/> and waits for its durable ack.</summary>
    Task WriteAsync(long write, CancellationToken cancellationToken);

    /// <summary>Waits for the acks of every write sent with <see cref="SendAsync"/>; throws when one failed.</summary>
    Task DrainAsync(CancellationToken cancellationToken);
}
