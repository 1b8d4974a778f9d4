using System.Diagnostics;

namespace Lockstep.Samples.Ecommerce;

/// <summary><c>all</c>: starts the server and the four services as processes of their own, and stops them together.</summary>
internal static class Launcher
{
    public static async Task<int> RunAsync(Arguments options)
    {
        var port = options.Int("port", 5090);
        var data = Path.GetFullPath(options.Get("data", "ecommerce-data"));
        Directory.CreateDirectory(data);
        var url = $"http://127.0.0.1:{port}";
        var children = new List<Process>();
        try
        {
            children.Add(await StartAsync("server", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", data));
            children.Add(await StartAsync("users", "--url", url));
            children.Add(await StartAsync("inventory", "--url", url));
            children.Add(await StartAsync("payments", "--url", url));
            children.Add(await StartAsync("orders", "--url", url, "--db", Path.Combine(data, "orders-readmodel.db")));
            Console.WriteLine($"""
                the shop is up at {url}:
                  place orders:   dotnet run --project samples/ecommerce/Lockstep.Samples.Ecommerce -- place --url {url} --count 20
                  watch them:     curl '{url}/v1/collections/sagas/docs'   (and orders, inventory, payments)
                  the read model: sqlite3 {Path.Combine(data, "orders-readmodel.db")} 'SELECT * FROM user_order_info'
                Ctrl-C stops everything.
                """);
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                stop.Cancel();
            };
            await Task.WhenAny(Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default),
                Task.WhenAny(children.Select(c => c.WaitForExitAsync())));
            return 0;
        }
        finally
        {
            foreach (var child in children.Where(c => !c.HasExited))
            {
                child.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>This program again, in another role; returns once it says it is ready.</summary>
    private static async Task<Process> StartAsync(string role, params string[] args)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(Launcher).Assembly.Location);
        }
        info.ArgumentList.Add(role);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info)!;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == role + " ready")
            {
                _ = Task.Run(async () =>
                {
                    while (await process.StandardOutput.ReadLineAsync() is { } more)
                    {
                        Console.WriteLine($"[{role}] {more}");
                    }
                });
                Console.WriteLine($"{role} started (pid {process.Id})");
                return process;
            }
        }
        throw new InvalidOperationException($"{role} exited before it was ready.");
    }
}
