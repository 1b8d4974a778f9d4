using Lockstep.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Lockstep.Server.Rest;

/// <summary>What a caller may learn of the server itself, over <see cref="StatusService"/>: <c>GET /v1/status</c> and <c>GET /v1/cluster</c>.</summary>
internal static class ServerEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/status", GetStatusAsync);
        group.MapGet("/cluster", GetClusterAsync);
    }

    private static async Task GetStatusAsync(HttpContext context, [FromServices] StatusService server)
    {
        var status = await server.GetStatusAsync(RestBinding.CallerOf(context), context.RequestAborted);
        await RestBinding.WriteJsonAsync(context, status, static (w, s) =>
        {
            w.WriteString("status", "ok");
            w.WriteNumber("head", s.Head);
            w.WriteNumber("horizon", s.Horizon);
            w.WriteNumber("subscribedConnections", s.SubscribedConnections);
            w.WriteStartArray("collections");
            foreach (var (name, policy) in s.Collections)
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("policy", policy == ConflictPolicy.Strict ? "strict" : "lww");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("process");
            w.WriteNumber("rssBytes", s.Process.RssBytes);
            w.WriteNumber("managedHeapBytes", s.Process.ManagedHeapBytes);
            w.WriteNumber("managedAllocatedBytes", s.Process.ManagedAllocatedBytes);
            w.WriteStartObject("gcCollections");
            w.WriteNumber("gen0", s.Process.Gen0Collections);
            w.WriteNumber("gen1", s.Process.Gen1Collections);
            w.WriteNumber("gen2", s.Process.Gen2Collections);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static async Task GetClusterAsync(HttpContext context, [FromServices] StatusService server)
    {
        var outcome = await server.GetClusterAsync(RestBinding.CallerOf(context), context.RequestAborted);
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await RestBinding.WriteJsonAsync(context, outcome.Value, static (w, s) =>
        {
            w.WriteString("self", s.Self);
            w.WriteBoolean("clustered", s.Clustered);
            w.WriteNumber("head", s.Head);
            if (s.CompactionLeaseToken is { } token)
            {
                w.WriteNumber("compactionLeaseToken", token);
            }
            w.WriteStartArray("nodes");
            foreach (var (node, healthy) in s.Nodes)
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
