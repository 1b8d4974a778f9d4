namespace Lockstep.Core;

/// <summary>
/// Cooperative balancing of a consumer group's partitions, decided by each member when it claims (its
/// heartbeat), with no coordinator: the members are the holders of live leases plus the claimant. The
/// claimant renews what it holds, gives back what it holds beyond its fair share, takes free or expired
/// partitions up to its share, and, when still short, takes one partition from the member holding the
/// most. Repeated by every member each heartbeat, this converges to every partition held by exactly one
/// live member, the counts differing by at most one; a member that stops claiming loses its partitions
/// when its leases expire.
/// </summary>
public static class PartitionBalancer
{
    /// <summary>The partitions after <paramref name="member"/> claims at <paramref name="now"/>; only changed ones differ from the input.</summary>
    /// <param name="leases">Every partition of the group, in partition order.</param>
    /// <param name="member">The claiming member.</param>
    /// <param name="now">The current time.</param>
    /// <param name="lease">How long a claim or renewal lasts.</param>
    public static IReadOnlyList<PartitionLease> Claim(IReadOnlyList<PartitionLease> leases, string member, DateTimeOffset now, TimeSpan lease)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentException.ThrowIfNullOrEmpty(member);
        var result = leases.ToArray();
        var expires = now + lease;
        var members = leases.Where(l => l.IsHeld(now)).Select(l => l.Owner!).Append(member).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        // Shares: partitions / members, the remainder going to the members first in name order.
        var index = members.IndexOf(member);
        var share = result.Length / members.Count + (index < result.Length % members.Count ? 1 : 0);

        var mine = Enumerable.Range(0, result.Length).Where(i => result[i].IsHeld(now) && result[i].Owner == member).ToList();
        // Give back what is over the share (the highest partitions), so others can take it.
        foreach (var i in mine.Skip(share).ToList())
        {
            result[i] = result[i] with { Owner = null, ExpiresAt = now };
            mine.Remove(i);
        }
        foreach (var i in mine)
        {
            result[i] = result[i] with { ExpiresAt = expires };
        }
        // Take free or expired partitions up to the share.
        for (var i = 0; i < result.Length && mine.Count < share; i++)
        {
            if (!result[i].IsHeld(now))
            {
                result[i] = Take(result[i], member, expires);
                mine.Add(i);
            }
        }
        // Still short: take one from the member holding the most, if it holds more than its share would be.
        if (mine.Count < share)
        {
            var richest = Enumerable.Range(0, result.Length)
                .Where(i => result[i].IsHeld(now) && result[i].Owner != member)
                .GroupBy(i => result[i].Owner!, StringComparer.Ordinal)
                .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                .FirstOrDefault();
            if (richest is not null && richest.Count() > mine.Count + 1)
            {
                var i = richest.Max();
                result[i] = Take(result[i], member, expires);
            }
        }
        return result;
    }

    private static PartitionLease Take(PartitionLease lease, string member, DateTimeOffset expires) =>
        lease with { Owner = member, ExpiresAt = expires, Epoch = lease.Epoch + 1 };
}
