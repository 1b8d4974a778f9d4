namespace Lockstep.Server.Tests;

/// <summary>Builders for the op objects of a <c>mut</c> frame (docs/protocol.md §5).</summary>
public static class Ops
{
    public static object Put(string collection, string id, object doc, long? ifVersion = null) =>
        ifVersion is null ? new { op = "put", collection, id, doc } : new { op = "put", collection, id, doc, ifVersion };

    public static object Patch(string collection, string id, object set, long? ifVersion = null) =>
        ifVersion is null ? new { op = "patch", collection, id, set } : new { op = "patch", collection, id, set, ifVersion };

    public static object Unset(string collection, string id, params string[] unset) => new { op = "patch", collection, id, unset };

    public static object Inc(string collection, string id, string path, decimal by) => new { op = "inc", collection, id, path, by };

    public static object Delete(string collection, string id, long? ifVersion = null) =>
        ifVersion is null ? new { op = "delete", collection, id } : new { op = "delete", collection, id, ifVersion };

    /// <summary>A collection name unique to one test, so tests can share a server and run in parallel.</summary>
    public static string Unique(string prefix = "c") => prefix + "-" + Guid.NewGuid().ToString("N")[..10];
}
