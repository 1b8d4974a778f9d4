using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>Settings of one collection.</summary>
public sealed class CollectionOptions
{
    /// <summary>How concurrent writes resolve.</summary>
    /// <value><see cref="ConflictPolicy.Lww"/>.</value>
    public ConflictPolicy Policy { get; set; } = ConflictPolicy.Lww;

    /// <summary>
    /// Who may read the collection's documents (subscriptions, the change feed, REST reads): any of
    /// these <see cref="AccessRule"/>s. An <c>owner:</c> rule narrows reads to the caller's own documents.
    /// </summary>
    /// <value>Empty: <see cref="AuthOptions.DefaultRead"/> applies.</value>
    public List<string> Read { get; } = [];

    /// <summary>
    /// Who may write the collection's documents: any of these <see cref="AccessRule"/>s. Under an
    /// <c>owner:</c> rule a write must find the document absent or owned by the caller, and leave it
    /// deleted or owned by the caller.
    /// </summary>
    /// <value>Empty: <see cref="AuthOptions.DefaultWrite"/> applies.</value>
    public List<string> Write { get; } = [];
}
