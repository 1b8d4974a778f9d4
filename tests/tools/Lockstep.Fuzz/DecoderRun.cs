namespace Lockstep.Fuzz;

/// <summary>The <c>--decoder</c> mode: a run of <see cref="MessagePackDecoderFuzz"/> with a watchdog, printed.</summary>
public static class DecoderRun
{
    /// <summary>A frame still decoding after this long is a hang (the slowest seen are milliseconds).</summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);

    public static int Run(long frames, int seed)
    {
        var fuzz = new MessagePackDecoderFuzz(new MessagePackFuzzer(seed, MessagePackFuzzer.GoldenFrames()));
        using var done = new ManualResetEventSlim();
        var watchdog = new Thread(() =>
        {
            while (!done.Wait(TimeSpan.FromMilliseconds(200)))
            {
                if (fuzz.InFlight is { } stuck && stuck.For > HangBound)
                {
                    Console.WriteLine($"HANG: still decoding after {stuck.For.TotalSeconds:F0} s: {stuck.Frame}");
                    Environment.Exit(3);
                }
            }
        }) { IsBackground = true };
        watchdog.Start();
        Console.WriteLine($"decoder: {frames:N0} MessagePack frames, seed {seed}");
        var report = fuzz.Run(frames);
        done.Set();
        Console.WriteLine(report);
        foreach (var bug in report.Bugs.Values)
        {
            Console.WriteLine("BUG: " + bug);
        }
        return report.Bugs.Count == 0 ? 0 : 1;
    }
}
