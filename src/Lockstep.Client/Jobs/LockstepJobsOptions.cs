namespace Lockstep.Client.Jobs;

/// <summary>Where and how <see cref="LockstepJobs"/> reaches the job queue API.</summary>
public sealed class LockstepJobsOptions
{
    /// <summary>The server's API root, for example <c>http://127.0.0.1:5080/v1/</c> (a missing trailing slash is added).</summary>
    /// <value>No default: required.</value>
    public Uri? BaseUrl { get; set; }

    /// <summary>
    /// Sent as <c>Authorization: Bearer &lt;token&gt;</c> on every request when set: an API key
    /// (<c>lsk_…</c>) or a JWT, for servers that require authentication. Never logged.
    /// </summary>
    /// <value>None.</value>
    public string? BearerToken { get; set; }

    /// <summary>The HTTP client to send with (its handler, proxy and timeouts); <see cref="LockstepJobs"/> does not dispose it.</summary>
    /// <value>None: a client of its own, disposed with <see cref="LockstepJobs"/>, with a 2-minute timeout (above the longest claim wait).</value>
    public HttpClient? HttpClient { get; set; }
}
