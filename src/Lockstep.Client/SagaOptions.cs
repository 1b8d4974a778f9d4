namespace Lockstep.Client;

/// <summary>Settings of a <see cref="SagaRunner"/>.</summary>
public sealed class SagaOptions
{
    /// <summary>The collection the sagas' state documents live in.</summary>
    /// <value><c>sagas</c>.</value>
    public string Collection { get; set; } = "sagas";

    /// <summary>This runner's id (the owner of the sagas it runs).</summary>
    /// <value>The machine name and a random suffix.</value>
    public string Runner { get; set; } = Environment.MachineName + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>How long a runner owns a saga without renewing; a runner that dies loses its sagas to others after this.</summary>
    /// <value>10 seconds.</value>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one attempt of a step may take before it counts as failed.</summary>
    /// <value>30 seconds.</value>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts of a step before the saga compensates (compensations are retried until they succeed).</summary>
    /// <value>3.</value>
    public int MaxStepAttempts { get; set; } = 3;

    /// <summary>The first retry delay; it doubles, with jitter, up to 5 seconds.</summary>
    /// <value>100 milliseconds.</value>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the runner looks for sagas to run or resume.</summary>
    /// <value>500 milliseconds.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How many sagas this runner runs at once.</summary>
    /// <value>16.</value>
    public int MaxConcurrency { get; set; } = 16;
}
