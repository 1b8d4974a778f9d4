using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>
/// The sequencer's cache of committed documents, so that a write to a hot document needs no store
/// read. Owned by the sequencer's loop alone (no locking). Bounded by the total size of the bodies:
/// when full, about a tenth of the entries are dropped.
/// </summary>
internal sealed class DocumentCache
{
    private readonly Dictionary<(string Collection, string Id), StoredDocument> _documents = [];
    private readonly long _maxBytes;
    private long _bytes;

    public DocumentCache(long maxBytes)
    {
        _maxBytes = maxBytes;
    }

    public int Count => _documents.Count;

    public bool TryGet(string collection, string id, out StoredDocument? document) =>
        _documents.TryGetValue((collection, id), out document);

    public void Set(StoredDocument document)
    {
        if (_maxBytes <= 0)
        {
            return;
        }
        var key = (document.Collection, document.Id);
        if (_documents.TryGetValue(key, out var old))
        {
            _bytes -= Size(old);
        }
        _documents[key] = document;
        _bytes += Size(document);
        if (_bytes > _maxBytes)
        {
            Shrink();
        }
    }

    /// <summary>Forgets everything (after a failed commit, when the cache may hold what never committed).</summary>
    public void Clear()
    {
        _documents.Clear();
        _bytes = 0;
    }

    private void Shrink()
    {
        var drop = Math.Max(1, _documents.Count / 10);
        foreach (var key in _documents.Keys.Take(drop).ToList())
        {
            _bytes -= Size(_documents[key]);
            _documents.Remove(key);
        }
    }

    private static long Size(StoredDocument document) => 64 + (document.Json?.Length ?? 0) * 2L + document.Id.Length * 2L;
}
