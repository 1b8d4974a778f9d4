using System.Text.Json;
using System.Threading.Channels;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// The single writer of the log. Mutations from every connection enter one channel; the loop begins a
/// store transaction when one is waiting, then takes as many as are waiting (up to
/// <see cref="LockstepOptions.MaxBatchMutations"/>), applies them in order inside that transaction,
/// commits once (group commit: one fsync per batch), then tells the commit observers (the fan-out
/// first) and only then completes each request. A refused write is a result value
/// (<see cref="WriteResult"/>), never an exception.
/// </summary>
internal sealed class Sequencer
{
    private readonly IChangeStore _store;
    private readonly HybridClock _clock;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly EngineMetrics _metrics;
    private readonly AccessPolicy _access;
    private readonly Channel<WriteRequest> _queue;
    private readonly DocumentCache _cache;
    private readonly ICommitObserver[] _observers;
    private readonly MutatorRegistry _mutators;

    /// <summary>Per client, the highest mutation number known to be recorded: a higher one needs no lookup.</summary>
    private readonly Dictionary<string, long> _lastMutationNo = new(StringComparer.Ordinal);

    /// <summary>The head after this sequencer's last commit; -1 before the first.</summary>
    private long _lastCommittedHead = -1;

    // The observers are told of each commit in order, before its writers hear back. The first publishes
    // the changes (the fan-out on one node, the LogFollower on a shared store; AddLockstep registers it
    // first), so a writer's ack never overtakes its change reaching this node's subscribers.
    public Sequencer(IChangeStore store, HybridClock clock, IOptions<LockstepOptions> options, AccessPolicy access, EngineMetrics metrics,
        MutatorRegistry mutators, IEnumerable<ICommitObserver> observers, ILogger<Sequencer> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _mutators = mutators;
        _observers = [.. observers];
        _access = access;
        _metrics = metrics;
        _options = options.Value;
        _cache = new DocumentCache(_options.DocumentCacheBytes);
        _store = store;
        _clock = clock;
        _logger = logger;
        _queue = Channel.CreateBounded<WriteRequest>(new BoundedChannelOptions(_options.MaxQueuedMutations)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Queues a mutation; false when the queue is full (answer <c>overloaded</c>).</summary>
    public bool TryEnqueue(WriteRequest request) => _queue.Writer.TryWrite(request);

    /// <summary>Queues a mutation and waits for its result.</summary>
    public async Task<WriteResult> SubmitAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        if (!TryEnqueue(request))
        {
            return WriteResult.Rejected(new Rejection(ErrorCodes.Overloaded, "The write queue is full; retry with backoff."));
        }
        return await request.Completion.WaitAsync(cancellationToken);
    }

    public void Complete() => _queue.Writer.TryComplete();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        var batch = new List<WriteRequest>(_options.MaxBatchMutations);
        while (await reader.WaitToReadAsync(cancellationToken))
        {
            batch.Clear();
            await CommitBatchAsync(batch, cancellationToken);
        }
    }

    /// <summary>Moves what is waiting (up to <see cref="LockstepOptions.MaxBatchMutations"/>) into the batch.</summary>
    private void TakeBatch(List<WriteRequest> requests)
    {
        var reader = _queue.Reader;
        while (requests.Count < _options.MaxBatchMutations && reader.TryRead(out var request))
        {
            requests.Add(request);
        }
    }

    private async Task CommitBatchAsync(List<WriteRequest> requests, CancellationToken cancellationToken)
    {
        WriteResult[] results;
        BatchState state;
        try
        {
            var shared = _store as ISharedChangeStore;
            await using var writer = shared is not null && _lastCommittedHead >= 0
                ? await shared.BeginWriteAsync(_lastCommittedHead, cancellationToken)
                : await _store.BeginWriteAsync(cancellationToken);
            // The batch is taken once the transaction has begun, not before: on a shared store that is
            // when this node holds the log lock, so everything its clients sent while other nodes held it
            // joins this batch instead of waiting for the next turn (on one node: what came during BEGIN).
            TakeBatch(requests);
            results = new WriteResult[requests.Count];
            if (shared is not null && writer.WrittenSince is { } since && since.AfterSeq == _lastCommittedHead)
            {
                // Other nodes' commits since this sequencer's last, read under the log lock: the cache
                // takes their documents and the mutation numbers their records, and stays exact.
                CatchUp(since);
            }
            else if (writer.Head != _lastCommittedHead || shared is not null)
            {
                // Someone else appended since this sequencer's last commit (another node, too much to read
                // back, or this is the first batch), or another node may have recorded a refused mutation,
                // which does not move the head: what this sequencer remembers may be stale.
                _cache.Clear();
                _lastMutationNo.Clear();
            }
            state = new BatchState(writer, _cache);
            for (var i = 0; i < requests.Count; i++)
            {
                results[i] = await ApplyAsync(state, requests[i], cancellationToken);
            }
            if (state.Changes.Count > 0 || state.Records.Count > 0 || state.Jobs.Count > 0)
            {
                if (state.Changes.Count > 0 || state.Records.Count > 0)
                {
                    await writer.AppendAsync(state.Changes, state.Records, cancellationToken);
                }
                if (state.Jobs.Count > 0)
                {
                    // Mutators' jobs commit with their documents (MutationScope only collects them when the writer has queues).
                    var jobs = writer.Jobs ?? throw new InvalidOperationException("The store writer lost its job queues mid-batch.");
                    await jobs.EnqueueJobsAsync(state.Jobs, cancellationToken);
                }
                await writer.CommitAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // When the transaction never began, the batch was not taken yet: those writers hear it too.
            TakeBatch(requests);
            var shutdown = WriteResult.Rejected(new Rejection(ErrorCodes.ShuttingDown, "The server is shutting down; nothing was written."));
            foreach (var request in requests)
            {
                request.Complete(shutdown);
            }
            throw;
        }
        catch (Exception e)
        {
            // The cache and the mutation numbers may hold what never committed: forget them.
            _cache.Clear();
            _lastMutationNo.Clear();
            // When beginning failed (the store is down), the waiting writes are taken now and refused,
            // as when they had been taken first: the loop waits for new ones rather than retrying at once.
            TakeBatch(requests);
            Log.CommitFailed(_logger, e, requests.Count);
            // When the commit itself failed (the connection to a database dropped), it may or may not
            // have happened: a numbered mutation retried with the same mid is applied once either way.
            var failed = WriteResult.Rejected(new Rejection(ErrorCodes.StorageUnavailable,
                "The store could not confirm the commit. Retry with the same mutation number: it is applied at most once."));
            foreach (var request in requests)
            {
                request.Complete(failed);
            }
            return;
        }

        foreach (var document in state.Documents.Values)
        {
            _cache.Set(document);
        }
        _lastCommittedHead = state.Head;
        _metrics.Committed(state.Changes.Count);
        ChangeBatch? batch = null;
        if (state.Changes.Count > 0)
        {
            batch = new ChangeBatch([.. state.Changes], state.Head);
        }
        if (batch is not null || state.Jobs.Count > 0)
        {
            Notify(new CommittedBatch(state.Head, batch, state.Jobs.Select(j => j.Queue).ToHashSet(StringComparer.Ordinal)));
        }
        for (var i = 0; i < requests.Count; i++)
        {
            requests[i].Complete(results[i]);
        }
        Log.BatchCommitted(_logger, requests.Count, state.Changes.Count, state.Head);
    }

    /// <summary>
    /// Brings the caches up to what other writers committed after this sequencer's last commit. A
    /// document's last change there is its committed state, so it replaces what the cache held. A client's
    /// remembered mutation number rises to the highest recorded since; a client the sequencer has no number
    /// for stays unknown (a higher one may have been recorded before), and is looked up when it writes.
    /// </summary>
    private void CatchUp(WrittenSince since)
    {
        foreach (var document in since.Documents)
        {
            _cache.Set(document);
        }
        foreach (var (clientId, mutationNo) in since.LastMutationNos)
        {
            if (_lastMutationNo.TryGetValue(clientId, out var last) && mutationNo > last)
            {
                _lastMutationNo[clientId] = mutationNo;
            }
        }
        _metrics.CaughtUp(since.Documents.Count);
    }

    private void Notify(CommittedBatch batch)
    {
        foreach (var observer in _observers)
        {
            try
            {
                observer.OnCommitted(batch);
            }
            catch (Exception e)
            {
                // The batch is committed: an observer's failure must not fail it, nor stop the loop.
                Log.CommitObserverFailed(_logger, e, observer.GetType().Name);
            }
        }
    }

    private async ValueTask<WriteResult> ApplyAsync(BatchState state, WriteRequest request, CancellationToken cancellationToken)
    {
        if (request.IsKeyed)
        {
            var key = (request.ClientId!, request.MutationNo!.Value);
            if (state.Decided.TryGetValue(key, out var decided))
            {
                return WriteResult.FromRecordJson(decided.ToRecordJson());
            }
            if (!_lastMutationNo.TryGetValue(key.Item1, out var last))
            {
                last = await state.Writer.GetLastMutationNoAsync(key.Item1, cancellationToken);
                _lastMutationNo[key.Item1] = last;
            }
            if (key.Item2 <= last && await state.Writer.GetMutationAsync(key.Item1, key.Item2, cancellationToken) is { } record)
            {
                return WriteResult.FromRecordJson(record.ResultJson);
            }
        }

        var result = request.MutatorName is null
            ? await ApplyOpsAsync(state, request, cancellationToken)
            : await CallMutatorAsync(state, request, cancellationToken);

        if (request.IsKeyed)
        {
            var key = (request.ClientId!, request.MutationNo!.Value);
            state.Decided[key] = result;
            _lastMutationNo[key.Item1] = Math.Max(_lastMutationNo.GetValueOrDefault(key.Item1), key.Item2);
            state.Records.Add(new MutationRecord(key.Item1, key.Item2, result.Succeeded ? result.Seq : state.Head, result.ToRecordJson()));
        }
        return result;
    }

    private async ValueTask<WriteResult> ApplyOpsAsync(BatchState state, WriteRequest request, CancellationToken cancellationToken)
    {
        var scope = new MutationScope(state, _options);
        for (var i = 0; i < request.Ops.Count; i++)
        {
            var op = request.Ops[i];
            var grant = request.Caller is { } caller ? _access.Write(caller, op.Collection) : Grant.Everything;
            if (grant.None)
            {
                return WriteResult.Rejected(new Rejection(ErrorCodes.Forbidden, $"You may not write to '{op.Collection}'; nothing was written.") with { OpIndex = i });
            }
            (AppliedWrite? Write, Rejection? Rejection) applied;
            try
            {
                applied = await scope.ApplyAsync(op, cancellationToken, grant);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not System.Data.Common.DbException && e is not IOException)
            {
                // A bug meeting odd input must cost this mutation only, not the batch it shares with
                // other clients' writes: nothing of it reached the batch yet (the scope is private).
                Log.WriteFailed(_logger, e);
                return WriteResult.Rejected(new Rejection(ErrorCodes.InternalError, "The write could not be applied; nothing was written. It has been logged.") with { OpIndex = i });
            }
            if (applied.Rejection is { } rejection)
            {
                return WriteResult.Rejected(rejection with { OpIndex = i });
            }
        }
        var versions = scope.CommitTo(_clock, request.ClientId, request.MutationNo);
        return WriteResult.Committed(state.Head, versions, null);
    }

    private async ValueTask<WriteResult> CallMutatorAsync(BatchState state, WriteRequest request, CancellationToken cancellationToken)
    {
        // The server's own mutators (consumer groups) are not for clients to call.
        if (!_mutators.TryGet(request.MutatorName!, out var mutator) || (request.Caller is not null && SystemCollections.IsSystem(request.MutatorName!)))
        {
            return WriteResult.Rejected(new Rejection(ErrorCodes.UnknownMutator, $"No mutator is registered as '{request.MutatorName}'."));
        }
        if (request.Caller is { } caller && !_access.CanCallMutators(caller))
        {
            return WriteResult.Rejected(new Rejection(ErrorCodes.Forbidden, $"You may not call mutators; nothing was written."));
        }
        var scope = new MutationScope(state, _options);
        try
        {
            var value = await mutator(new MutatorContext(scope, request.ClientId, request.Caller), request.Args, cancellationToken);
            var versions = scope.CommitTo(_clock, request.ClientId, request.MutationNo);
            return WriteResult.Committed(state.Head, versions, value);
        }
        catch (MutationRejectedException e)
        {
            return WriteResult.Rejected(new Rejection(ErrorCodes.MutationRejected, e.Message, null, e.Reason));
        }
        catch (MutatorOpRejectedException e)
        {
            return WriteResult.Rejected(e.Rejection);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.MutatorFailed(_logger, e, request.MutatorName!);
            return WriteResult.Rejected(new Rejection(ErrorCodes.MutatorFailed, $"Mutator '{request.MutatorName}' failed: {e.GetType().Name}. Nothing was written."));
        }
    }
}
