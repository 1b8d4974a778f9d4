using System.Security.Claims;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The application services over an <see cref="EngineRig"/>, built as <c>AddLockstep()</c> builds them, and callers to call them as.</summary>
internal static class ServiceRig
{
    public static MutationService Mutations(EngineRig rig) => new(rig.Sequencer, Microsoft.Extensions.Options.Options.Create(rig.Options));

    public static DocumentService Documents(EngineRig rig) =>
        new(rig.Store, new AccessPolicy(rig.Options), Mutations(rig), Microsoft.Extensions.Options.Options.Create(rig.Options));

    /// <summary>The consumer groups' service; the rig needs <see cref="ConsumerGroupMutators"/> among its sources.</summary>
    public static GroupService Groups(EngineRig rig, EngineLifetime lifetime, TimeProvider? time = null) =>
        new(rig.Store, new AccessPolicy(rig.Options), Mutations(rig), rig.FanOut, lifetime, time ?? TimeProvider.System);

    /// <summary>A user as a validated JWT with this <c>sub</c> would make it.</summary>
    public static Caller User(string id, params string[] roles)
    {
        var claims = new List<Claim> { new("sub", id) };
        claims.AddRange(roles.Select(r => new Claim("role", r)));
        return Caller.User(new ClaimsPrincipal(new ClaimsIdentity(claims, "test")), new JwtOptions())!;
    }

    /// <summary>A collection whose documents are read and written by their owner (the <c>ownerId</c> field) only.</summary>
    public static CollectionOptions Owned()
    {
        var collection = new CollectionOptions();
        collection.Read.Add("owner:ownerId");
        collection.Write.Add("owner:ownerId");
        return collection;
    }

    /// <summary>A collection only callers with the role may read and write.</summary>
    public static CollectionOptions ForRole(string role)
    {
        var collection = new CollectionOptions();
        collection.Read.Add("role:" + role);
        collection.Write.Add("role:" + role);
        return collection;
    }
}
