using System.Data;
using System.Data.Common;

namespace Lockstep.Client;

/// <summary>Settings of a <see cref="LockstepProjection"/>.</summary>
public sealed class ProjectionOptions
{
    /// <summary>The consumer group settings of the projection's member (its id, lease, partitions, concurrency).</summary>
    public ConsumerOptions Consumer { get; } = new();

    /// <summary>The isolation of each change's transaction. Serializable by default, so that changes applied at once in different partitions cannot interleave into a wrong read model; a serialization failure is retried like any handler failure.</summary>
    /// <value><see cref="IsolationLevel.Serializable"/>.</value>
    public IsolationLevel Isolation { get; set; } = IsolationLevel.Serializable;

    /// <summary>Empties the read model before a rebuild, inside the rebuild's transaction.</summary>
    /// <value>None: a rebuild then only replays.</value>
    public Func<DbTransaction, CancellationToken, Task>? Reset { get; set; }
}
