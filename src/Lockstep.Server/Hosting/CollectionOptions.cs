using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>Settings of one collection.</summary>
public sealed class CollectionOptions
{
    /// <summary>How concurrent writes resolve.</summary>
    /// <value><see cref="ConflictPolicy.Lww"/>.</value>
    public ConflictPolicy Policy { get; set; } = ConflictPolicy.Lww;
}
