using Microsoft.Data.Sqlite;

namespace Lockstep.Client;

/// <summary>
/// The client's SQLite file: its id, the cursor, the confirmed documents of its subscriptions, the
/// subscriptions themselves, and the queue of writes not yet confirmed. The cache and the cursor are
/// written together in one transaction, so the file always describes one consistent position; a
/// queued write is inserted before the call that made it returns, so a process that dies loses none.
/// </summary>
internal sealed class LocalStore : IDisposable
{
    private const int FormatVersion = 1;
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private LocalStore(SqliteConnection connection) => _connection = connection;

    public static LocalStore Open(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 1 }.ToString());
        connection.Open();
        try
        {
            // Exclusive: two clients sharing one file would share a client id and a queue.
            // synchronous=NORMAL in WAL: a process crash loses nothing committed; only a power loss may lose the last commits.
            Execute(connection, """
                PRAGMA locking_mode = EXCLUSIVE;
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS docs (collection TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT, subs TEXT NOT NULL, PRIMARY KEY (collection, id));
                CREATE TABLE IF NOT EXISTS subs (name TEXT PRIMARY KEY, collection TEXT NOT NULL, filter TEXT NOT NULL, established INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS pending (mid INTEGER PRIMARY KEY, frame TEXT NOT NULL);
                """);
            var store = new LocalStore(connection);
            var format = store.GetMeta("format");
            if (format is null)
            {
                store.SetMeta("format", FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (format != FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"The local store {path} has format {format}; this client reads format {FormatVersion}.");
            }
            return store;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 5)
        {
            connection.Dispose();
            throw new InvalidOperationException($"The local store {path} is in use by another client.", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public string? GetMeta(string key)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT value FROM meta WHERE key = $k";
            command.Parameters.AddWithValue("$k", key);
            return command.ExecuteScalar() as string;
        }
    }

    public void SetMeta(string key, string value)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
            command.Parameters.AddWithValue("$k", key);
            command.Parameters.AddWithValue("$v", value);
            command.ExecuteNonQuery();
        }
    }

    public List<StoredDoc> LoadDocs()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT collection, id, version, body, subs FROM docs";
            using var reader = command.ExecuteReader();
            var list = new List<StoredDoc>();
            while (reader.Read())
            {
                list.Add(new StoredDoc(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4)));
            }
            return list;
        }
    }

    public List<StoredSub> LoadSubs()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT name, collection, filter, established FROM subs";
            using var reader = command.ExecuteReader();
            var list = new List<StoredSub>();
            while (reader.Read())
            {
                list.Add(new StoredSub(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3) != 0));
            }
            return list;
        }
    }

    public List<(long Mid, string Frame)> LoadPending()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT mid, frame FROM pending ORDER BY rowid";
            using var reader = command.ExecuteReader();
            var list = new List<(long, string)>();
            while (reader.Read())
            {
                list.Add((reader.GetInt64(0), reader.GetString(1)));
            }
            return list;
        }
    }

    public void AddPending(long mid, string frame)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO pending (mid, frame) VALUES ($m, $f)";
            command.Parameters.AddWithValue("$m", mid);
            command.Parameters.AddWithValue("$f", frame);
            command.ExecuteNonQuery();
        }
    }

    public void RemovePending(long mid)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM pending WHERE mid = $m";
            command.Parameters.AddWithValue("$m", mid);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Writes the cache changes, the subscriptions and the cursor in one transaction.</summary>
    public void Flush(long cursor, IReadOnlyList<StoredDoc> upserts, IReadOnlyList<(string Collection, string Id)> deletes, IReadOnlyList<StoredSub> subs, IReadOnlyList<string> removedSubs)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            ExecuteEach(transaction, "INSERT INTO docs (collection, id, version, body, subs) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, body = excluded.body, subs = excluded.subs",
                upserts, d => [d.Collection, d.Id, d.Version, d.Body, d.Subs]);
            ExecuteEach(transaction, "DELETE FROM docs WHERE collection = $1 AND id = $2", deletes, d => [d.Collection, d.Id]);
            ExecuteEach(transaction, "INSERT INTO subs (name, collection, filter, established) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET established = excluded.established",
                subs, s => [s.Name, s.Collection, s.Filter, s.Established ? 1 : 0]);
            ExecuteEach(transaction, "DELETE FROM subs WHERE name = $1", removedSubs, n => [n]);
            ExecuteEach(transaction, "INSERT INTO meta (key, value) VALUES ('cursor', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [cursor], c => [c.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            transaction.Commit();
        }
    }

    /// <summary>Runs one prepared statement per item, binding <c>$1</c>, <c>$2</c>, … to the item's values.</summary>
    private void ExecuteEach<T>(SqliteTransaction transaction, string sql, IEnumerable<T> items, Func<T, object?[]> values)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var item in items)
        {
            var row = values(item);
            if (command.Parameters.Count == 0)
            {
                for (var i = 0; i < row.Length; i++)
                {
                    command.Parameters.Add(new SqliteParameter("$" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), null));
                }
            }
            for (var i = 0; i < row.Length; i++)
            {
                command.Parameters[i].Value = row[i] ?? DBNull.Value;
            }
            command.ExecuteNonQuery();
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection.Dispose();
        }
    }
}

/// <summary>A cached document row.</summary>
internal sealed record StoredDoc(string Collection, string Id, long Version, string? Body, string Subs);

/// <summary>A subscription row.</summary>
internal sealed record StoredSub(string Name, string Collection, string Filter, bool Established);
