using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Lockstep.Server.Rest;

/// <summary>What a caller may learn of the server itself: <c>GET /v1/status</c> and <c>GET /v1/cluster</c>.</summary>
internal static class ServerEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/status", GetStatusAsync);
        group.MapGet("/cluster", GetClusterAsync);
    }

    private static async Task GetStatusAsync(HttpContext context)
    {
        var engine = RestBinding.Engine(context);
        await using var reader = await engine.Store.BeginReadAsync(context.RequestAborted);
        // Configured collections too: a strict one is strict before its first write, and a client
        // reading the status to learn the policies must not take it for lww. Only those the caller may
        // read: a collection's name is data too (system collections show only to whom may read them).
        var caller = RestBinding.CallerOf(context);
        var collections = (await reader.ListCollectionsAsync(context.RequestAborted))
            .Union(engine.Options.Collections.Keys, StringComparer.Ordinal)
            .Where(c => !engine.Access.Read(caller, c).None)
            .Order(StringComparer.Ordinal)
            .ToList();
        await RestBinding.WriteJsonAsync(context, (engine, reader.Head, collections), static (w, s) =>
        {
            w.WriteString("status", "ok");
            w.WriteNumber("head", s.Head);
            w.WriteNumber("horizon", s.engine.Horizon);
            w.WriteNumber("subscribedConnections", s.engine.FanOut.ListenerCount);
            w.WriteStartArray("collections");
            foreach (var c in s.collections)
            {
                w.WriteStartObject();
                w.WriteString("name", c);
                w.WriteString("policy", s.engine.Options.PolicyOf(c) == ConflictPolicy.Strict ? "strict" : "lww");
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    private static async Task GetClusterAsync(HttpContext context)
    {
        var engine = RestBinding.Engine(context);
        if (!engine.Access.CanSeeCluster(RestBinding.CallerOf(context)))
        {
            await Problems.Write(context, ErrorCodes.Forbidden, "The cluster's nodes are shown to API keys and administrators only.");
            return;
        }
        var membership = context.RequestServices.GetRequiredService<ClusterMembership>();
        var nodes = await membership.ListNodesAsync(context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, (engine, membership, nodes), static (w, s) =>
        {
            w.WriteString("self", s.engine.Options.NodeId);
            w.WriteBoolean("clustered", s.membership.IsClustered);
            w.WriteNumber("head", s.engine.Head);
            if (s.membership.CompactionLeaseToken is { } token)
            {
                w.WriteNumber("compactionLeaseToken", token);
            }
            w.WriteStartArray("nodes");
            foreach (var (node, healthy) in s.nodes.OrderBy(n => n.Node.Id, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("id", node.Id);
                if (node.Url is not null)
                {
                    w.WriteString("url", node.Url);
                }
                w.WriteString("startedAt", node.StartedAt);
                w.WriteString("lastHeartbeat", node.LastHeartbeat);
                w.WriteNumber("head", node.Head);
                w.WriteBoolean("healthy", healthy);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }
}
