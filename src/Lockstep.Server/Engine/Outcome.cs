using System.Diagnostics.CodeAnalysis;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>
/// What an application service answers: a value, or a refusal (a stable error code and a message). A refusal
/// is a value, as a refused write is a <see cref="WriteResult"/>: the transport decides how to say it.
/// </summary>
/// <typeparam name="T">The value of a served request.</typeparam>
internal readonly struct Outcome<T>
{
    private readonly T? _value;

    private Outcome(T? value, Rejection? refusal)
    {
        _value = value;
        Refusal = refusal;
    }

    /// <summary>Why the request was not served; null when it was.</summary>
    public Rejection? Refusal { get; }

    /// <summary>The value of a served request (throws on a refusal: check <see cref="IsRefused"/> first).</summary>
    public T Value => Refusal is null ? _value! : throw new InvalidOperationException($"The request was refused: {Refusal.Error.Code}.");

    /// <summary>True (with the refusal) when the request was not served.</summary>
    public bool IsRefused([NotNullWhen(true)] out Rejection? refusal)
    {
        refusal = Refusal;
        return refusal is not null;
    }

    public static implicit operator Outcome<T>(T value) => new(value, null);

    public static implicit operator Outcome<T>(Rejection refusal) => new(default, refusal);
}
