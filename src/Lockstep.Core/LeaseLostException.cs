namespace Lockstep.Core;

/// <summary>A write under a lease was refused because a newer holder took the lease.</summary>
public sealed class LeaseLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeaseLostException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseLostException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LeaseLostException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
