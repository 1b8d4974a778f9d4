using System.Diagnostics;

namespace Lockstep.Cli.Bench;

/// <summary>Sends writes paced, not bursty: write i goes out at start + i / rate (a sleep until close, then a spin).</summary>
internal sealed class PacedWriter
{
    private readonly int _rate;

    public PacedWriter(int rate)
    {
        _rate = rate;
    }

    /// <summary>Calls <paramref name="send"/> for 0 … <paramref name="count"/> − 1, each at its time.</summary>
    public async Task WriteAsync(int count, Func<int, Task> send, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var ticksPerWrite = (double)Stopwatch.Frequency / _rate;
        for (var i = 0; i < count; i++)
        {
            var due = start + (long)(i * ticksPerWrite);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(2))
            {
                await Task.Delay(wait - TimeSpan.FromMilliseconds(1), cancellationToken);
            }
            while (Stopwatch.GetTimestamp() < due)
            {
                Thread.SpinWait(20);
            }
            await send(i);
        }
    }
}
