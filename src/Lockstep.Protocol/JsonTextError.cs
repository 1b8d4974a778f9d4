namespace Lockstep.Protocol;

/// <summary>Why <see cref="JsonText"/> refused some JSON text: the kind of defect and a sentence for the caller.</summary>
/// <param name="Defect">What kind of defect it is; a transport picks its error code by it.</param>
/// <param name="Message">A sentence for the caller, naming where the defect is.</param>
public sealed record JsonTextError(JsonDefect Defect, string Message);
