namespace Lockstep.Outbox;

/// <summary>
/// The relay cannot publish at all until someone fixes its configuration: the server refused the
/// credentials (<c>unauthorized</c>, <c>forbidden</c>), or the URL does not lead to a Lockstep server.
/// No row is marked; <see cref="OutboxRelay.RunAsync"/> logs it and tries again with backoff.
/// </summary>
public sealed class OutboxRelayException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OutboxRelayException()
        : this("The outbox relay cannot publish.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public OutboxRelayException(string message)
        : base(message)
    {
        Code = "unknown";
    }

    /// <summary>Creates the exception.</summary>
    public OutboxRelayException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = "unknown";
    }

    /// <summary>Creates the exception with the server's error code and HTTP status.</summary>
    public OutboxRelayException(string code, int statusCode, string message)
        : base(message)
    {
        Code = code;
        StatusCode = statusCode;
    }

    /// <summary>The server's error code (<c>unauthorized</c>, <c>forbidden</c>), or <c>unknown</c> when the answer was not a Lockstep problem.</summary>
    public string Code { get; }

    /// <summary>The HTTP status of the answer, when there was one.</summary>
    public int? StatusCode { get; }
}
