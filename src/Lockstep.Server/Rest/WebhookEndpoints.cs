using Lockstep.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using static Lockstep.Server.Rest.RestBinding;

namespace Lockstep.Server.Rest;

/// <summary>Webhooks' administration (docs/microservices.md, "Webhooks") over <see cref="WebhookService"/>: their delivery state, and the replay of a dead letter.</summary>
internal static class WebhookEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/webhooks", ListWebhooksAsync);
        group.MapPost("/webhooks/{name}/replay", ReplayWebhookAsync);
    }

    private static async Task ListWebhooksAsync(HttpContext context, [FromServices] WebhookService webhooks)
    {
        var outcome = webhooks.List(CallerOf(context));
        if (outcome.IsRefused(out var refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, outcome.Value, static (w, listing) =>
        {
            w.WriteNumber("head", listing.Head);
            w.WriteStartArray("webhooks");
            foreach (var status in listing.Webhooks)
            {
                w.WriteStartObject();
                w.WriteString("name", status.Name);
                w.WriteString("url", status.Url.ToString());
                w.WriteNumber("position", status.Position);
                w.WriteNumber("lag", Math.Max(0, listing.Head - status.Position));
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
    private static async Task ReplayWebhookAsync(HttpContext context, string name, [FromServices] WebhookService webhooks)
    {
        var caller = CallerOf(context);
        if (webhooks.Admit(caller) is { } refusal)
        {
            await Problems.Write(context, refusal);
            return;
        }
        using var body = await ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var outcome = await webhooks.ReplayAsync(caller, name, RequestReader.GetString(body.RootElement, "deadLetter"), context.RequestAborted);
        if (outcome.IsRefused(out refusal))
        {
            await Problems.Write(context, refusal);
            return;
        }
        await WriteJsonAsync(context, outcome.Value, static (w, n) => w.WriteNumber("replayed", n));
    }
}
