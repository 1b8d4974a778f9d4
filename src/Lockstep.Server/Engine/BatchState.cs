using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>The state of one group-commit batch: what its mutations wrote so far, on top of the store.</summary>
internal sealed class BatchState
{
    public BatchState(IStoreWriter writer, DocumentCache cache)
    {
        Writer = writer;
        Cache = cache;
        Head = writer.Head;
    }

    public IStoreWriter Writer { get; }

    /// <summary>Committed documents the sequencer remembers; read before the store.</summary>
    public DocumentCache Cache { get; }

    /// <summary>The seq of the last change assigned in this batch.</summary>
    public long Head { get; set; }

    public Dictionary<(string Collection, string Id), StoredDocument> Documents { get; } = [];

    public List<Change> Changes { get; } = [];

    public List<MutationRecord> Records { get; } = [];

    /// <summary>Jobs the batch's mutators enqueued: inserted in the batch's own transaction.</summary>
    public List<Lockstep.Core.Jobs.NewJob> Jobs { get; } = [];

    /// <summary>Results of keyed mutations decided earlier in this batch (not yet visible in the store).</summary>
    public Dictionary<(string ClientId, long MutationNo), WriteResult> Decided { get; } = [];
}
