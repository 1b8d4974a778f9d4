namespace Lockstep.Client;

/// <summary>
/// One step of a saga: an action and, optionally, the compensation that undoes it. Both run at least
/// once (a runner that dies mid-step leaves it to be run again): make them idempotent, for example by
/// keying what they write on <see cref="SagaContext.SagaId"/>.
/// </summary>
/// <param name="Name">The step's name (in the saga's state and logs).</param>
/// <param name="Action">Does the step; throw to fail it.</param>
/// <param name="Compensation">Undoes the step after a later one failed; null when there is nothing to undo.</param>
public sealed record SagaStep(string Name, Func<SagaContext, CancellationToken, Task> Action, Func<SagaContext, CancellationToken, Task>? Compensation = null);
