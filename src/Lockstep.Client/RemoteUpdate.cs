using System.Text.Json.Nodes;

namespace Lockstep.Client;

/// <summary>What a remote change did to a document of a subscription.</summary>
public enum RemoteUpdateKind
{
    /// <summary>Fields changed; <see cref="RemoteUpdate.Set"/> and <see cref="RemoteUpdate.Unset"/> say which.</summary>
    Changed,

    /// <summary>The document entered the view (created, or now matching the filter, or in a snapshot); <see cref="RemoteUpdate.Set"/> is the whole document.</summary>
    Entered,

    /// <summary>The document was deleted.</summary>
    Deleted,

    /// <summary>The document no longer matches the subscription's filter.</summary>
    Removed,
}

/// <summary>A change another participant made to a document this client subscribes to: the seed's "delta".</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Id">The document id.</param>
/// <param name="Version">The document's new server version.</param>
/// <param name="Seq">The change's log position.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Set">Changed fields (dotted paths → new values); for <see cref="RemoteUpdateKind.Entered"/>, the whole document; empty otherwise.</param>
/// <param name="Unset">Removed field paths.</param>
public sealed record RemoteUpdate(string Collection, string Id, long Version, long Seq, RemoteUpdateKind Kind, JsonObject Set, IReadOnlyList<string> Unset);

/// <summary>A document of the local view changed.</summary>
/// <typeparam name="T">The document type.</typeparam>
/// <param name="Id">The document id.</param>
/// <param name="Document">The document as the local view now shows it (server state with unconfirmed writes on top); null when it left the view.</param>
/// <param name="Version">The last server version the view is based on (0 when the server has none yet).</param>
/// <param name="IsRemote">True when a change from elsewhere caused it; false for this client's own writes, confirmations and reverts.</param>
public sealed record DocumentChange<T>(string Id, T? Document, long Version, bool IsRemote);
