using System.Collections.Concurrent;

namespace Lockstep.Server;

/// <summary>
/// Counts held per key under a ceiling — connections per client id, pending sockets per address — without a
/// lock; a key whose count drops to zero is forgotten, so the map holds only keys that hold something.
/// </summary>
internal sealed class KeyedCounts<TKey>(IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, int> _counts = new(comparer);

    /// <summary>Counts one more for <paramref name="key"/>; false (nothing counted) when it already holds <paramref name="max"/>.</summary>
    public bool TryIncrement(TKey key, int max)
    {
        while (true)
        {
            var current = _counts.GetValueOrDefault(key);
            if (current >= max)
            {
                return false;
            }
            if (current == 0 ? _counts.TryAdd(key, 1) : _counts.TryUpdate(key, current + 1, current))
            {
                return true;
            }
        }
    }

    /// <summary>Forgets one counted by <see cref="TryIncrement"/>.</summary>
    public void Decrement(TKey key)
    {
        while (_counts.TryGetValue(key, out var current))
        {
            if (current <= 1 ? _counts.TryRemove(new KeyValuePair<TKey, int>(key, current)) : _counts.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }
}
