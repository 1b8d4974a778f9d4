namespace Lockstep.Server;

/// <summary>
/// Authentication and the default access rules, bound from the configuration section
/// <c>Lockstep:Auth</c>. Services present API keys; end users present JWT bearer tokens. With none
/// of these configured and <see cref="AllowAnonymous"/> off (the default), every request is refused.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>
    /// Whether requests without credentials are served, as the anonymous user; the access rules still
    /// apply to it (only <c>public</c> admits it).
    /// </summary>
    /// <value>False.</value>
    public bool AllowAnonymous { get; set; }

    /// <summary>The API keys services authenticate with: hashes only, never the keys themselves.</summary>
    public List<ApiKeyOptions> ApiKeys { get; } = [];

    /// <summary>JWT bearer tokens for end users; off while no signing key is configured.</summary>
    public JwtOptions Jwt { get; } = new();

    /// <summary>Who may read collections that have no <see cref="CollectionOptions.Read"/> rules: any of these (see <see cref="AccessRule"/>).</summary>
    /// <value>Empty, meaning <c>authenticated</c>.</value>
    public List<string> DefaultRead { get; } = [];

    /// <summary>
    /// Who besides API keys (whose <c>write</c> / <c>write:COLLECTION</c> scopes decide for them) may write
    /// collections that have no <see cref="CollectionOptions.Write"/> rules: any of these. Closed by
    /// default, so that a collection nobody gave rules to is not every signed-in user's to overwrite.
    /// </summary>
    /// <value>Empty: nobody but API keys.</value>
    public List<string> DefaultWrite { get; } = [];

    /// <summary>
    /// Who may call server-side mutators: any of these (<c>owner:</c> rules do not apply; a mutator
    /// checks ownership itself through <see cref="MutatorContext.User"/>). API keys need the <c>write</c> scope.
    /// </summary>
    /// <value>Empty, meaning <c>authenticated</c>.</value>
    public List<string> Mutators { get; } = [];

    /// <summary>
    /// Who besides API keys (which need the <c>jobs</c>, <c>write</c> or <c>*</c> scope) may use the job
    /// queues: any of these rules (<c>owner:</c> does not apply).
    /// </summary>
    /// <value>Empty: API keys only.</value>
    public List<string> Jobs { get; } = [];

    /// <summary>
    /// Who besides API keys (which need the <c>groups</c>, <c>groups:GROUP</c>, <c>groups:PREFIX*</c> or <c>*</c>
    /// scope) may use consumer groups — join, claim, read, commit, leave — any of these rules (<c>owner:</c>
    /// does not apply). Reading a group's changes also needs read access to all of each of its collections.
    /// </summary>
    /// <value>Empty: API keys only.</value>
    public List<string> Groups { get; } = [];

    /// <summary>
    /// Who besides API keys with the <c>*</c> scope may use the administrative endpoints (webhook status
    /// and replay): any of these rules (<c>owner:</c> does not apply).
    /// </summary>
    /// <value>Empty: API keys with <c>*</c> only.</value>
    public List<string> Admin { get; } = [];

    /// <summary>
    /// Opens the server to anyone who can reach it: anonymous access, and <c>public</c> as the default
    /// rule for reading, writing, calling mutators, using the job queues and consumer groups, and administering. For development on a loopback address; this is
    /// what <c>lockstep serve</c> does when it listens only on loopback and no authentication is configured.
    /// </summary>
    public AuthOptions OpenToAnyone()
    {
        AllowAnonymous = true;
        Replace(DefaultRead, "public");
        Replace(DefaultWrite, "public");
        Replace(Mutators, "public");
        Replace(Jobs, "public");
        Replace(Groups, "public");
        Replace(Admin, "public");
        return this;
    }

    /// <summary>True when API keys or JWT are configured.</summary>
    public bool HasCredentials => ApiKeys.Count > 0 || Jwt.IsConfigured;

    private static void Replace(List<string> list, string value)
    {
        list.Clear();
        list.Add(value);
    }
}
