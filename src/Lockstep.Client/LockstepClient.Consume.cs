namespace Lockstep.Client;

public sealed partial class LockstepClient
{
    /// <summary>
    /// A member of the consumer group <paramref name="group"/> on this client's servers, with its token
    /// provider and logging. Not started: register it as a hosted service or call <c>StartAsync</c>.
    /// </summary>
    public LockstepConsumer Consume(string group, IEnumerable<string> collections, Func<ConsumedChange, CancellationToken, ValueTask> handler, Action<ConsumerOptions>? configure = null)
    {
        var options = new ConsumerOptions();
        configure?.Invoke(options);
        return new LockstepConsumer(_urls, group, collections, handler, options, _options.TokenProvider, _options.LoggerFactory);
    }

    /// <summary>
    /// A read model in the service's own database built from <paramref name="collections"/> (see
    /// <see cref="LockstepProjection"/>), on this client's servers with its token provider and logging. Not started.
    /// </summary>
    public LockstepProjection Project(string name, IEnumerable<string> collections, Func<CancellationToken, Task<System.Data.Common.DbConnection>> open,
        Func<ConsumedChange, System.Data.Common.DbTransaction, CancellationToken, Task> apply, Action<ProjectionOptions>? configure = null)
    {
        var options = new ProjectionOptions();
        configure?.Invoke(options);
        return new LockstepProjection(_urls, name, collections, open, apply, options, _options.TokenProvider, _options.LoggerFactory);
    }
}
