using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>A request the server refused, with its stable error code (docs/errors.md).</summary>
public class LockstepException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LockstepException(string code, string message, bool isTransient = false, JsonObject? current = null, string? reason = null)
        : base(message)
    {
        Code = code;
        IsTransient = isTransient;
        Current = current;
        Reason = reason;
    }

    /// <summary>Creates the exception.</summary>
    public LockstepException() : this(ErrorCodes.InternalError.Code, "Lockstep request failed.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public LockstepException(string message) : this(ErrorCodes.InternalError.Code, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public LockstepException(string message, Exception innerException) : base(message, innerException)
    {
        Code = ErrorCodes.InternalError.Code;
    }

    /// <summary>The stable error code, for example <c>version_conflict</c>.</summary>
    public string Code { get; }

    /// <summary>True when retrying later may succeed.</summary>
    public bool IsTransient { get; }

    /// <summary>The document as it stands on the server, when the error carries it (<c>{"collection","id","v","doc"|"deleted"}</c>).</summary>
    public JsonObject? Current { get; }

    /// <summary>A mutator's domain reason, with <c>mutation_rejected</c>.</summary>
    public string? Reason { get; }

    /// <summary>Builds the exception an <c>error</c> frame in its JSON spelling describes (see <see cref="FromFrame(ErrorFrame)"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="frame"/> is not an <c>error</c> frame.</exception>
    public static LockstepException FromFrame(JsonObject frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        try
        {
            if (FrameCodecs.Json.Read(System.Text.Encoding.UTF8.GetBytes(frame.ToJsonString())) is ErrorFrame error)
            {
                return FromFrame(error);
            }
        }
        catch (FrameFormatException e)
        {
            throw new ArgumentException($"Not an error frame: {e.Message}", nameof(frame), e);
        }
        throw new ArgumentException("Not an error frame.", nameof(frame));
    }

    /// <summary>Builds the exception an <c>error</c> frame describes: a <see cref="VersionConflictException"/>, a <see cref="MutationRejectedException"/>, or this type.</summary>
    public static LockstepException FromFrame(ErrorFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var code = frame.Code;
        var message = frame.Message.Length > 0 ? frame.Message : code;
        var current = frame.Current is not null ? CurrentObject(frame) : null;
        if (code == ErrorCodes.VersionConflict.Code || code == ErrorCodes.PreconditionRequired.Code)
        {
            return new VersionConflictException(code, message, current);
        }
        if (code == ErrorCodes.MutationRejected.Code)
        {
            return new MutationRejectedException(frame.Reason ?? code, message);
        }
        return new LockstepException(code, message, ErrorCodes.Find(code)?.IsTransient ?? false, current, frame.Reason);
    }

    /// <summary><see cref="Current"/> as the protocol spells it: <c>{"collection","id","v","doc"|"deleted"}</c>.</summary>
    private static JsonObject? CurrentObject(ErrorFrame frame)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            JsonBodies.WriteErrorDetails(writer, frame);
            writer.WriteEndObject();
        }
        return JsonNode.Parse(output.WrittenSpan)?["current"]?.DeepClone() as JsonObject;
    }
}

/// <summary>A write lost an optimistic-concurrency check (<c>version_conflict</c> or <c>precondition_required</c>); <see cref="LockstepException.Current"/> holds the document as it stands.</summary>
public sealed class VersionConflictException : LockstepException
{
    /// <summary>Creates the exception.</summary>
    public VersionConflictException(string code, string message, JsonObject? current) : base(code, message, false, current)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VersionConflictException() : base(ErrorCodes.VersionConflict.Code, "Version conflict.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public VersionConflictException(string message) : base(ErrorCodes.VersionConflict.Code, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public VersionConflictException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The current server version of the document, when known (0 when it does not exist).</summary>
    public long CurrentVersion => (long?)Current?["v"] ?? 0;
}

/// <summary>A server-side mutator refused the call (<c>mutation_rejected</c>); <see cref="LockstepException.Reason"/> is its domain code.</summary>
public sealed class MutationRejectedException : LockstepException
{
    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string reason, string message) : base(ErrorCodes.MutationRejected.Code, message, false, null, reason)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException() : base(ErrorCodes.MutationRejected.Code, "The mutator rejected the call.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string message) : base(ErrorCodes.MutationRejected.Code, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MutationRejectedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
