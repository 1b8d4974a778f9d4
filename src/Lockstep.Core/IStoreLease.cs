namespace Lockstep.Core;

/// <summary>A held lease for a singleton duty. Disposing releases it.</summary>
public interface IStoreLease : IAsyncDisposable
{
    /// <summary>The lease's name, for example <c>compaction</c>.</summary>
    string Name { get; }

    /// <summary>Strictly greater than the token of every earlier holder of this lease.</summary>
    long FencingToken { get; }

    /// <summary>Checks that the lease is still held (its connection alive); false once lost.</summary>
    ValueTask<bool> IsHeldAsync(CancellationToken cancellationToken);
}
