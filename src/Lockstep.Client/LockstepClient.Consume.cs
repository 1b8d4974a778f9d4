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
}
