namespace Lockstep.Server;

/// <summary>One webhook's delivery as <c>GET /v1/webhooks</c> shows it.</summary>
/// <param name="Name">The webhook.</param>
/// <param name="Url">Its endpoint.</param>
/// <param name="Position">Every change up to this seq was delivered or dead-lettered.</param>
/// <param name="State"><c>starting</c>, <c>idle</c>, <c>delivering</c>, <c>retrying</c> or <c>circuit-open</c>.</param>
/// <param name="LastError">The last failed attempt's error, until a delivery succeeds.</param>
internal sealed record WebhookStatus(string Name, Uri Url, long Position, string State, string? LastError);
