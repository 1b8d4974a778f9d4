using System.Text;
using Lockstep.Protocol;

namespace Lockstep.Core;

/// <summary>
/// Which partition of a consumer group a document belongs to: FNV-1a (32-bit) of the UTF-8 bytes of
/// <c>collection/id</c>, modulo the group's partition count. Every change of one document falls in one
/// partition, so a partition read in seq order keeps each document's order. The function is part of the
/// public contract (clients in other languages may compute it): it never changes.
/// </summary>
public static class Partitions
{
    /// <summary>The partition of a document.</summary>
    public static int Of(string collection, string id, int count)
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(id);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var hash = 2166136261u;
        Span<byte> buffer = stackalloc byte[4 * (Names.MaxCollectionLength + 1 + Names.MaxIdLength)];
        var length = Encoding.UTF8.GetBytes(collection, buffer);
        buffer[length++] = (byte)'/';
        length += Encoding.UTF8.GetBytes(id, buffer[length..]);
        foreach (var b in buffer[..length])
        {
            hash = unchecked((hash ^ b) * 16777619u);
        }
        return (int)(hash % (uint)count);
    }
}
