using System.Text.Json;
using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>Webhooks' administration (docs/microservices.md, "Webhooks"): their delivery state, and the replay of a dead letter.</summary>
internal static class WebhookEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/webhooks", ListWebhooksAsync);
        group.MapPost("/webhooks/{name}/replay", ReplayWebhookAsync);
    }

    private static async ValueTask<bool> CanAdministerAsync(HttpContext context)
    {
        if (Engine(context).Access.CanAdminister(CallerOf(context)))
        {
            return true;
        }
        await Problems.Write(context, ErrorCodes.Forbidden, "This needs an API key with the * scope (or a rule in Lockstep:Auth:Admin).");
        return false;
    }

    private static async Task ListWebhooksAsync(HttpContext context)
    {
        if (!await CanAdministerAsync(context))
        {
            return;
        }
        var engine = Engine(context);
        var channels = context.RequestServices.GetRequiredService<WebhookDispatcher>().Channels;
        await WriteJsonAsync(context, (channels, engine.Head), static (w, s) =>
        {
            w.WriteNumber("head", s.Head);
            w.WriteStartArray("webhooks");
            foreach (var channel in s.channels)
            {
                var status = channel.Status;
                w.WriteStartObject();
                w.WriteString("name", status.Name);
                w.WriteString("url", status.Url.ToString());
                w.WriteNumber("position", status.Position);
                w.WriteNumber("lag", Math.Max(0, s.Head - status.Position));
                w.WriteString("state", status.State);
                if (status.LastError is { } error)
                {
                    w.WriteString("lastError", error);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    /// <summary><c>POST /v1/webhooks/{name}/replay</c> <c>{"deadLetter": id}</c>: sends its changes again; the dead letter goes once they are accepted.</summary>
    private static async Task ReplayWebhookAsync(HttpContext context, string name)
    {
        if (!await CanAdministerAsync(context))
        {
            return;
        }
        using var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var id = RequestParser.GetString(body.RootElement, "deadLetter");
        var channel = context.RequestServices.GetRequiredService<WebhookDispatcher>().Channels.FirstOrDefault(c => c.Name == name);
        if (channel is null || string.IsNullOrEmpty(id))
        {
            await Problems.Write(context, channel is null ? ErrorCodes.NotFound : ErrorCodes.InvalidRequest,
                channel is null ? $"No webhook '{name}'." : "'deadLetter' (the dead letter's id) is required.");
            return;
        }
        var (replayed, refusal) = await channel.ReplayAsync(id, context.RequestAborted);
        if (refusal is not null)
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, replayed, static (w, n) => w.WriteNumber("replayed", n));
    }
}
