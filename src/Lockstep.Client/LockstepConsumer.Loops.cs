using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Client;

public sealed partial class LockstepConsumer
{
    /// <summary>Joins, then renews at a third of the lease; the answer is the member's share after rebalancing.</summary>
    private async Task ClaimLoopAsync(CancellationToken cancellationToken)
    {
        var lastClaim = DateTimeOffset.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var answer = await PostAsync("claim", new JsonObject
                {
                    ["member"] = Member,
                    ["collections"] = new JsonArray([.. _collections.Select(c => JsonValue.Create(c))]),
                    ["partitions"] = _options.Partitions,
                    ["leaseMs"] = (long)_options.Lease.TotalMilliseconds,
                }, cancellationToken).ConfigureAwait(false);
                lastClaim = DateTimeOffset.UtcNow;
                Assign(answer!["assigned"]!.AsArray());
                _firstClaim.TrySetResult();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException)
            {
                Log.ConsumerClaimFailed(_logger, e, _group);
                if (e is LockstepException { IsTransient: false } refused)
                {
                    _firstClaim.TrySetException(refused);
                }
                if (DateTimeOffset.UtcNow - lastClaim > _options.Lease)
                {
                    Assign([]); // without a renewal the leases are gone: stop handling their partitions
                }
            }
            await Delay(_options.Lease / 3, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Assign(JsonArray assigned)
    {
        lock (_gate)
        {
            var now = assigned.Select(a => ((int)a!["partition"]!, (long)a["epoch"]!, (long)a["checkpoint"]!)).ToDictionary(a => a.Item1);
            foreach (var (p, work) in _partitions.ToList())
            {
                if (!now.TryGetValue(p, out var held) || held.Item2 != work.Epoch)
                {
                    Drop(work);
                }
            }
            foreach (var (p, epoch, checkpoint) in now.Values)
            {
                if (!_partitions.ContainsKey(p))
                {
                    var work = new PartitionWork(p, epoch, checkpoint);
                    _partitions[p] = work;
                    work.Worker = Task.Run(() => WorkAsync(work), CancellationToken.None);
                    Log.PartitionAssigned(_logger, _group, Member, p, epoch, checkpoint);
                }
            }
        }
    }

    /// <summary>Stops handling a partition that is no longer this member's; the change being handled finishes, its commit will be refused.</summary>
    private void Drop(PartitionWork work)
    {
        if (_partitions.TryGetValue(work.Partition, out var current) && current == work)
        {
            _partitions.Remove(work.Partition);
            work.Queue.Writer.TryComplete();
            work.Cancel.Cancel();
            Log.PartitionRevoked(_logger, _group, Member, work.Partition, work.Epoch);
        }
    }

    private async Task FetchLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Dictionary<int, PartitionWork> works;
            int pending;
            lock (_gate)
            {
                works = new Dictionary<int, PartitionWork>(_partitions);
                pending = works.Values.Sum(w => w.Pending);
            }
            if (works.Count == 0 || pending > 4 * _options.FetchLimit)
            {
                await Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                var from = string.Join(',', works.Values.Select(w => $"{w.Partition}:{Format(w.Fetched)}"));
                var answer = await SendAsync(HttpMethod.Get,
                    $"groups/{Uri.EscapeDataString(_group)}/changes?member={Uri.EscapeDataString(Member)}&from={from}&limit={_options.FetchLimit}&wait=2",
                    null, cancellationToken).ConfigureAwait(false);
                Accept(works, answer!);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
            {
                Log.ConsumerFetchFailed(_logger, e, _group);
                await Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Queues fetched changes to their partitions and moves the fetch positions — only for the works the request was made for.</summary>
    private void Accept(Dictionary<int, PartitionWork> works, JsonNode answer)
    {
        lock (_gate)
        {
            foreach (var item in answer["events"]!.AsArray())
            {
                var e = item!.AsObject();
                var p = (int)e["partition"]!;
                if (!works.TryGetValue(p, out var work) || !_partitions.TryGetValue(p, out var current) || current != work)
                {
                    continue;
                }
                var seq = (long)e["seq"]!;
                if (seq <= work.Fetched)
                {
                    continue;
                }
                var deleted = (bool?)e["deleted"] == true;
                work.Pending++;
                work.Queue.Writer.TryWrite(new ConsumedChange(_group, p, seq, (string)e["collection"]!, (string)e["id"]!, (long)e["version"]!, deleted,
                    deleted ? null : e["doc"]?.DeepClone().AsObject(), deleted ? null : e["set"]?.DeepClone().AsObject(), (string?)e["clientId"]));
            }
            foreach (var (key, value) in answer["positions"]!.AsObject())
            {
                var p = int.Parse(key, System.Globalization.CultureInfo.InvariantCulture);
                if (works.TryGetValue(p, out var work) && _partitions.TryGetValue(p, out var current) && current == work)
                {
                    work.Fetched = Math.Max(work.Fetched, (long)value!);
                }
            }
            foreach (var lost in answer["lost"]!.AsArray())
            {
                if (_partitions.TryGetValue((int)lost!, out var work))
                {
                    Drop(work);
                }
            }
        }
    }

    /// <summary>Hands a partition's changes to the handler one at a time, retrying a failing one with backoff until it succeeds or the partition is gone.</summary>
    private async Task WorkAsync(PartitionWork work)
    {
        var token = work.Cancel.Token;
        try
        {
            await foreach (var change in work.Queue.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                for (var attempt = 1; ; attempt++)
                {
                    await _concurrency.WaitAsync(token).ConfigureAwait(false);
                    try
                    {
                        // The handler may finish even when the partition is revoked meanwhile: its token says so.
                        await _handler(change, token).ConfigureAwait(false);
                        break;
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        Log.HandlerFailed(_logger, e, _group, change.Seq, attempt);
                    }
                    finally
                    {
                        _concurrency.Release();
                    }
                    var delay = TimeSpan.FromMilliseconds(Math.Min(_options.MaxRetryDelay.TotalMilliseconds, 100 * Math.Pow(2, Math.Min(attempt, 20))) * Random.Shared.NextDouble());
                    await Task.Delay(delay, token).ConfigureAwait(false);
                }
                lock (_gate)
                {
                    work.Handled = change.Seq;
                    work.Pending--;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // revoked, or stopping
        }
    }

    private async Task CommitLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Delay(_options.CommitInterval, cancellationToken).ConfigureAwait(false);
            try
            {
                await CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException)
            {
                Log.CommitFailed(_logger, e, _group);
            }
        }
    }

    /// <summary>Commits each partition up to what the handler finished; a partition whose lease is gone is dropped.</summary>
    private async Task CommitAsync(CancellationToken cancellationToken)
    {
        List<(PartitionWork Work, long Seq)> commits;
        lock (_gate)
        {
            commits = [.. _partitions.Values.Select(w => (w, w.CommitTarget)).Where(c => c.CommitTarget > c.w.Committed)];
        }
        if (commits.Count == 0)
        {
            return;
        }
        try
        {
            await PostAsync("commit", new JsonObject
            {
                ["member"] = Member,
                ["commits"] = new JsonArray([.. commits.Select(c => (JsonNode)new JsonObject { ["partition"] = c.Work.Partition, ["epoch"] = c.Work.Epoch, ["seq"] = c.Seq })]),
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (LockstepException e) when (e.Code == ErrorCodes.LeaseLost.Code)
        {
            lock (_gate)
            {
                if (e.Data["op"] is int p && _partitions.TryGetValue(p, out var work))
                {
                    Drop(work);
                }
            }
            throw;
        }
        lock (_gate)
        {
            foreach (var (work, seq) in commits)
            {
                work.Committed = Math.Max(work.Committed, seq);
            }
        }
    }

    private static async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the loop checks the token
        }
    }
}
