namespace Lockstep.Server;

/// <summary>
/// How many connections the process can hold within its open-files limit. Every TCP connection holds
/// one file descriptor, and a process that runs out of them cannot open its store, a log file or a
/// socket to accept with — the runtime may abort. So the limit, less what is open at start and a
/// reserve for the store, logs, the PostgreSQL pool and outgoing webhooks, is shared out: sync
/// sessions get at most <see cref="Sessions"/>, sockets still in their handshake at most
/// <see cref="Pending"/>, and every other HTTP connection (REST, and upgrades not yet upgraded) at most
/// <see cref="Http"/>; Kestrel enforces the sum (<see cref="KestrelLimits"/>).
/// </summary>
internal sealed record ConnectionBudget
{
    /// <summary>The soft open-files limit, or null when unknown (not Linux) or unlimited: then only the options limit.</summary>
    public long? OpenFilesLimit { get; init; }

    /// <summary>Descriptors the process held when the budget was made (assemblies, the store, the listener).</summary>
    public int OpenAtStart { get; init; }

    /// <summary>Descriptors kept free for the store, log files, database pools and outgoing connections.</summary>
    public int Reserve { get; init; }

    /// <summary>The effective <see cref="LockstepOptions.MaxConnections"/>: sync sessions open at once.</summary>
    public int Sessions { get; init; }

    /// <summary>The effective <see cref="LockstepOptions.MaxPendingConnections"/>: upgraded sockets whose hello has not succeeded yet.</summary>
    public int Pending { get; init; }

    /// <summary>HTTP connections other than sync sessions (Kestrel's <c>MaxConcurrentConnections</c>); null for no limit.</summary>
    public int? Http { get; init; }

    /// <summary>Why the server cannot run within the open-files limit, or null when it can.</summary>
    public string? Problem { get; init; }

    /// <summary>True when the open-files limit, not <see cref="LockstepOptions.MaxConnections"/>, decides <see cref="Sessions"/>.</summary>
    public bool LimitedByOpenFiles { get; init; }

    /// <summary>The budget of this process, from its limit and what it holds now.</summary>
    public static ConnectionBudget ForThisProcess(LockstepOptions options) => Of(options, OpenFiles.SoftLimit(), OpenFiles.Open());

    /// <summary>Shares out <paramref name="limit"/> descriptors, <paramref name="openAtStart"/> of them taken.</summary>
    public static ConnectionBudget Of(LockstepOptions options, long? limit, int openAtStart)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (limit is not { } files)
        {
            return new ConnectionBudget { Sessions = options.MaxConnections, Pending = options.MaxPendingConnections };
        }
        // 5%, at least 128, covers what opens later: assemblies loaded on first use (about 50 in
        // `lockstep serve`, each held open), the store's connections, log files, the PostgreSQL pool,
        // webhook deliveries.
        var reserve = (int)Math.Min(int.MaxValue, Math.Max(128, files / 20));
        var room = Math.Min(int.MaxValue, files - openAtStart - reserve);
        if (room < 3)
        {
            // The engine refuses to start (Problem); a share of one each keeps the numbers meaningful until then.
            return new ConnectionBudget
            {
                OpenFilesLimit = files,
                OpenAtStart = openAtStart,
                Reserve = reserve,
                Sessions = 1,
                Pending = 1,
                Http = 1,
                LimitedByOpenFiles = true,
                Problem = $"The open-files limit {files} leaves no room for connections ({openAtStart} descriptors are open at start and {reserve} are kept in reserve); raise it (ulimit -n, LimitNOFILE=).",
            };
        }
        var budget = (int)room;
        // A tenth, at least one, for REST and for upgrade requests before they upgrade; at most a tenth
        // for handshakes; the rest for sessions.
        var http = Math.Max(1, budget / 10);
        var pending = Math.Min(options.MaxPendingConnections, Math.Max(1, budget / 10));
        var sessions = Math.Min(options.MaxConnections, budget - http - pending);
        return new ConnectionBudget
        {
            OpenFilesLimit = files,
            OpenAtStart = openAtStart,
            Reserve = reserve,
            Sessions = sessions,
            Pending = pending,
            Http = budget - sessions - pending,
            LimitedByOpenFiles = sessions < options.MaxConnections,
        };
    }
}
