using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>
/// Tests that measure the managed heap of the whole test process, where the server runs: they run
/// alone, after the parallel tests, so no other test's allocations count against them.
/// </summary>
[CollectionDefinition(nameof(ManagedHeap), DisableParallelization = true)]
public sealed class ManagedHeap
{
    /// <summary>The bytes live on the managed heap after a full, compacting collection.</summary>
    public static long Measure()
    {
        for (var i = 0; i < 2; i++)
        {
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    public const long MiB = 1 << 20;
}
