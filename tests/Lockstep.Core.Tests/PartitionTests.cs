using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;
using Lockstep.Protocol;

namespace Lockstep.Core.Tests;

public sealed class PartitionTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    [Fact]
    public void The_partition_function_is_fixed_FNV_1a_of_collection_slash_id()
    {
        // Golden values: clients in other languages compute the same.
        Assert.Equal(0x3A8E75C1u % 16, (uint)Partitions.Of("a", "b", 16)); // FNV-1a("a/b") = 0x3a8e75c1, computed independently (Python)
        Assert.Equal(0x3A8E75C1u % 1000, (uint)Partitions.Of("a", "b", 1000));
        Assert.Equal(Partitions.Of("orders", "o-1", 16), Partitions.Of("orders", "o-1", 16));
        Assert.InRange(Partitions.Of("orders", new string('x', Names.MaxIdLength), 7), 0, 6);
        Assert.Equal(0, Partitions.Of("orders", "anything", 1));
        var spread = Enumerable.Range(0, 1600).GroupBy(i => Partitions.Of("orders", "o-" + i, 16)).Select(g => g.Count()).ToList();
        Assert.Equal(16, spread.Count);
        Assert.All(spread, n => Assert.InRange(n, 60, 140));
    }

    private static PartitionLease[] Fresh(int count) => [.. Enumerable.Range(0, count).Select(p => new PartitionLease(p, null, Start, 0, 0))];

    private static IReadOnlyList<PartitionLease> Rounds(IReadOnlyList<PartitionLease> leases, IReadOnlyList<string> members, DateTimeOffset now, int rounds)
    {
        for (var r = 0; r < rounds; r++)
        {
            foreach (var member in members)
            {
                var next = PartitionBalancer.Claim(leases, member, now, Lease);
                AssertFenced(leases, next);
                leases = next;
            }
        }
        return leases;
    }

    /// <summary>A partition that changes hands gets a larger epoch; one that keeps its owner keeps its epoch; checkpoints never move.</summary>
    private static void AssertFenced(IReadOnlyList<PartitionLease> before, IReadOnlyList<PartitionLease> after)
    {
        for (var i = 0; i < before.Count; i++)
        {
            Assert.Equal(before[i].Checkpoint, after[i].Checkpoint);
            if (after[i].Owner is not null && after[i].Owner != before[i].Owner)
            {
                Assert.True(after[i].Epoch > before[i].Epoch);
            }
        }
    }

    private static bool Balanced(IReadOnlyList<PartitionLease> leases, IReadOnlyCollection<string> members, DateTimeOffset now)
    {
        if (leases.Any(l => !l.IsHeld(now) || !members.Contains(l.Owner!)))
        {
            return false;
        }
        var counts = members.Select(m => leases.Count(l => l.Owner == m)).ToList();
        return counts.Max() - counts.Min() <= 1;
    }

    [Property(MaxTest = 300)]
    public Property Members_claiming_in_turn_converge_to_every_partition_held_once_and_evenly() =>
        Prop.ForAll(Arb.From(Gen.Choose(1, 40)), Arb.From(Gen.Choose(1, 8)), (partitions, memberCount) =>
        {
            var members = Enumerable.Range(0, memberCount).Select(i => "m" + i).ToList();
            var leases = Rounds(Fresh(partitions), members, Start, partitions + 3);
            return Balanced(leases, members, Start);
        });

    [Property(MaxTest = 200)]
    public Property A_member_that_joins_gets_its_share_and_one_that_dies_loses_its_partitions_to_the_rest() =>
        Prop.ForAll(Arb.From(Gen.Choose(2, 32)), Arb.From(Gen.Choose(2, 6)), (partitions, memberCount) =>
        {
            var members = Enumerable.Range(0, memberCount).Select(i => "m" + i).ToList();
            var leases = Rounds(Fresh(partitions), members.Take(memberCount - 1).ToList(), Start, partitions + 3);
            // A new member joins.
            leases = Rounds(leases, members, Start.AddSeconds(1), partitions + 3);
            var joined = Balanced(leases, members, Start.AddSeconds(1));
            // The first member dies: it stops claiming; after its leases expire the others take everything.
            var later = Start.AddSeconds(1) + Lease + TimeSpan.FromSeconds(1);
            var survivors = members.Skip(1).ToList();
            leases = Rounds(leases, survivors, later, partitions + 3);
            return joined && Balanced(leases, survivors, later);
        });

    [Fact]
    public void A_live_holder_keeps_its_partition_and_its_epoch_while_it_renews()
    {
        var leases = PartitionBalancer.Claim(Fresh(4), "a", Start, Lease);
        Assert.All(leases, l => Assert.Equal(("a", 1L), (l.Owner, l.Epoch)));
        var renewed = PartitionBalancer.Claim(leases, "a", Start.AddSeconds(5), Lease);
        Assert.All(renewed, l => Assert.Equal(("a", 1L, Start.AddSeconds(15)), (l.Owner, l.Epoch, l.ExpiresAt)));
        // b joins: it may not take a held partition at once beyond one per claim, and what it takes changes epoch.
        var shared = PartitionBalancer.Claim(renewed, "b", Start.AddSeconds(6), Lease);
        Assert.Equal(1, shared.Count(l => l.Owner == "b"));
        Assert.Equal(2, shared.Single(l => l.Owner == "b").Epoch);
    }
}
