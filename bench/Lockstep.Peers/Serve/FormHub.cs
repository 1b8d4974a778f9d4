using Microsoft.AspNetCore.SignalR;

namespace Lockstep.Peers.Serve;

/// <summary>
/// The hub a .NET team hand-rolls: <c>Watch(id)</c> joins the form's group; <c>Update(id, field, value)</c> writes the
/// field through <see cref="FormStore"/> (committed and fsynced), sends <c>changed(id, field, value, version)</c> to
/// the form's group, and returns the new version — its completion is the writer's durable ack.
/// </summary>
internal sealed class FormHub : Hub
{
    public const string Changed = "changed";
    private readonly FormStore _store;

    public FormHub(FormStore store)
    {
        _store = store;
    }

    public Task Watch(string id) => Groups.AddToGroupAsync(Context.ConnectionId, id, Context.ConnectionAborted);

    public async Task<long> Update(string id, string field, string value)
    {
        var written = await _store.UpdateAsync(id, field, value, Context.ConnectionAborted)
            ?? throw new HubException($"no form {id}");
        await Clients.Group(id).SendAsync(Changed, id, field, value, written.Version, Context.ConnectionAborted);
        return written.Version;
    }
}
