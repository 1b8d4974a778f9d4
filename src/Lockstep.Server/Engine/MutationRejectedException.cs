namespace Lockstep.Server;

/// <summary>Thrown by <see cref="MutatorContext.Reject"/> to abort a mutator with a domain reason.</summary>
public sealed class MutationRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string reason, string message) : base(message)
    {
        Reason = reason;
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException() : this("rejected", "The mutation was rejected.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string message) : this("rejected", message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string message, Exception innerException) : base(message, innerException)
    {
        Reason = "rejected";
    }

    /// <summary>The mutator's domain reason, sent to the client as <c>reason</c>, e.g. <c>out_of_stock</c>.</summary>
    public string Reason { get; } = "rejected";
}
