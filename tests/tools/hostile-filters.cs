// The hostile connection of issue 11, item 2, against a running server: a hello, then 100 `sub` frames of
// 869 KB, each with a 140,000-item `$in` filter. Prints the server's resident memory (VmRSS of
// /proc/PID/status) at start, SETTLE ms (3,000 unless set) after the frames and 5 s after the close, and
// what the server answered, counted by error code (or by a frame's first characters when not an error).
//
//   dotnet src/Lockstep.Cli/bin/Release/net10.0/lockstep.dll serve --data /tmp/h --urls http://127.0.0.1:6321 &
//   dotnet run tests/tools/hostile-filters.cs -- ws://127.0.0.1:6321/v1/sync $!
using System.Net.WebSockets;
using System.Text;

var url = new Uri(args[0]);
var pid = int.Parse(args[1]);
var settle = int.Parse(Environment.GetEnvironmentVariable("SETTLE") ?? "3000");

Console.WriteLine($"rss at start: {Rss()} MiB");
using var socket = new ClientWebSocket();
socket.Options.KeepAliveInterval = TimeSpan.Zero;
await socket.ConnectAsync(url, CancellationToken.None);
var answers = new Dictionary<string, int>();
var reading = Task.Run(ReadAsync);

await SendAsync("""{"t":"hello","id":"h0","clientId":"hostile","protocol":1}""");
await Task.Delay(1000);
var items = string.Join(",", Enumerable.Range(0, 140_000));
for (var n = 0; n < 100; n++)
{
    var frame = $$"""{"t":"sub","id":"s{{n}}","sub":"s{{n}}","collection":"c","filter":{"k":{"$in":[{{items}}]""" + "}}}";
    if (n == 0)
    {
        Console.WriteLine($"frame bytes: {frame.Length}");
    }
    await SendAsync(frame);
}
await Task.Delay(settle);
Console.WriteLine($"rss after 100 hostile subs: {Rss()} MiB; answers: {Show()}");
try
{
    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
}
catch (WebSocketException e)
{
    Console.WriteLine($"close: {e.Message} ({socket.CloseStatus} {socket.CloseStatusDescription})");
}
await Task.Delay(5000);
Console.WriteLine($"rss 5 s after close: {Rss()} MiB");
await reading;

long Rss()
{
    var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
}

Task SendAsync(string text) =>
    socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

async Task ReadAsync()
{
    var buffer = new byte[1 << 20];
    try
    {
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            var text = Encoding.UTF8.GetString(buffer, 0, received.Count);
            var at = text.IndexOf("\"code\":\"", StringComparison.Ordinal);
            var key = at < 0 ? text[..Math.Min(12, text.Length)] : text[(at + 8)..text.IndexOf('"', at + 8)];
            lock (answers)
            {
                answers[key] = answers.GetValueOrDefault(key) + 1;
            }
        }
    }
    catch (WebSocketException)
    {
        // The server closed without a handshake: what it answered is counted.
    }
}

string Show()
{
    lock (answers)
    {
        return string.Join(", ", answers.Select(a => $"{a.Key} {a.Value}"));
    }
}
