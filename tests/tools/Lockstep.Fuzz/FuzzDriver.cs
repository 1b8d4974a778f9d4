using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Lockstep.Fuzz;

/// <summary>What one run saw.</summary>
public sealed class FuzzReport
{
    public long Frames { get; set; }

    public long Errors { get; set; }

    public long Closes { get; set; }

    public long OtherReplies { get; set; }

    /// <summary>Frames the server pushed (changes of a subscription) that were read past while waiting for a reply.</summary>
    public long Pushes { get; set; }

    public Dictionary<string, long> Codes { get; } = new(StringComparer.Ordinal);

    public Dictionary<int, long> CloseCodes { get; } = [];

    /// <summary>HTTP statuses of the REST pass.</summary>
    public Dictionary<int, long> Statuses { get; } = [];

    public List<string> Problems { get; } = [];

    public void Add(FuzzReport other)
    {
        Frames += other.Frames;
        Errors += other.Errors;
        Closes += other.Closes;
        OtherReplies += other.OtherReplies;
        Pushes += other.Pushes;
        foreach (var (code, n) in other.Codes)
        {
            Codes[code] = Codes.GetValueOrDefault(code) + n;
        }
        foreach (var (code, n) in other.CloseCodes)
        {
            CloseCodes[code] = CloseCodes.GetValueOrDefault(code) + n;
        }
        foreach (var (status, n) in other.Statuses)
        {
            Statuses[status] = Statuses.GetValueOrDefault(status) + n;
        }
        Problems.AddRange(other.Problems);
    }

    public override string ToString() =>
        $"{Frames} frames: {Errors} error replies, {OtherReplies} other replies, {Closes} closes{(Pushes > 0 ? $", {Pushes} pushed frames read past" : "")}; codes {string.Join(", ", Codes.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}"))}; " +
        $"{(CloseCodes.Count > 0 ? "close codes " : "")}{string.Join(", ", CloseCodes.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}" +
        $"{(Statuses.Count > 0 ? "HTTP statuses " : "")}{string.Join(", ", Statuses.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}; {Problems.Count} problems";
}

/// <summary>
/// Sends fuzzed frames over real WebSocket connections, one at a time per connection, and checks that
/// each one is answered — with any reply frame, usually an <c>error</c> with a stable code — or with a
/// close carrying one of the protocol's close codes, within the timeout. A connection that closes is
/// replaced. Anything else (no answer, a close code not in the protocol, a reply that is not JSON) is
/// reported as a problem.
/// </summary>
public static class FuzzDriver
{
    // Not 1011: an internal error is never the answer to bad input.
    private static readonly int[] AllowedCloseCodes = [1000, 1001, 1003, 1007, 1008, 1009, 4000];

    /// <summary>The answers a huge <c>$in</c> may get: refused as too large (or, before that limit, taken or refused for other reasons).</summary>
    private static readonly string[] HugeInCodes = ["filter_too_large", "invalid_filter", "too_many_subscriptions", "duplicate_subscription", "rate_limited", "hello_required"];

    private static long _sent;

    /// <summary>Frames sent so far by every run in this process (for progress and memory samples).</summary>
    public static long Sent => Interlocked.Read(ref _sent);

    /// <summary>Counts a frame sent by another driver in <see cref="Sent"/>.</summary>
    public static void CountSent() => Interlocked.Increment(ref _sent);

    public static async Task<FuzzReport> RunAsync(Uri syncUrl, int seed, long frames, TimeSpan timeout, int maxFrameBytes, CancellationToken cancellationToken)
    {
        var fuzzer = new FrameFuzzer(seed, maxFrameBytes);
        var report = new FuzzReport();
        var buffer = new byte[1 << 16];
        ClientWebSocket? socket = null;
        var fresh = false;
        try
        {
            for (long i = 0; i < frames && !cancellationToken.IsCancellationRequested; i++)
            {
                if (socket is null || socket.State != WebSocketState.Open)
                {
                    socket?.Dispose();
                    socket = new ClientWebSocket();
                    await socket.ConnectAsync(syncUrl, cancellationToken);
                    fresh = i % 7 == 0;
                    // Most connections say hello first, so the frames reach the session proper; some do not.
                    if (i % 7 != 0)
                    {
                        await socket.SendAsync(Encoding.UTF8.GetBytes(fuzzer.Hello()), WebSocketMessageType.Text, true, cancellationToken);
                        var welcome = await ReceiveAsync(socket, buffer, timeout, cancellationToken);
                        if (welcome.Text is null || !welcome.Text.Contains("\"welcome\"", StringComparison.Ordinal))
                        {
                            report.Problems.Add($"hello not answered with welcome: {welcome.Text ?? "close " + welcome.CloseCode}");
                            continue;
                        }
                    }
                }
                var frame = fuzzer.Next();
                report.Frames++;
                Interlocked.Increment(ref _sent);
                var wasFresh = fresh;
                fresh = false;
                try
                {
                    await socket.SendAsync(frame.Bytes, frame.IsBinary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, cancellationToken);
                }
                catch (WebSocketException)
                {
                    // The server closed while we were sending (an oversized frame is refused mid-way): a close is an answer.
                    report.Closes++;
                    continue;
                }
                var answer = await ReceiveAsync(socket, buffer, timeout, cancellationToken);
                if (answer.TimedOut)
                {
                    report.Problems.Add($"no answer within {timeout.TotalSeconds} s to {frame}");
                    socket.Abort();
                    continue;
                }
                if (answer.CloseCode is { } close)
                {
                    report.Closes++;
                    report.CloseCodes[close] = report.CloseCodes.GetValueOrDefault(close) + 1;
                    // Invalid UTF-8 in a text frame is refused by the WebSocket layer itself (.NET's): it
                    // sends 1007 and then resets the connection, so the client may see the reset first.
                    var resetAfterBadUtf8 = close == 1006 && !frame.IsBinary && !System.Text.Unicode.Utf8.IsValid(frame.Bytes);
                    if (Array.IndexOf(AllowedCloseCodes, close) < 0 && !resetAfterBadUtf8)
                    {
                        report.Problems.Add($"close code {close} is not in the protocol, after {(wasFresh ? "a first frame without hello, " : "")}{frame}");
                    }
                    continue;
                }
                try
                {
                    using var json = JsonDocument.Parse(answer.Text!);
                    var type = json.RootElement.GetProperty("t").GetString();
                    if (type == "error")
                    {
                        report.Errors++;
                        var code = json.RootElement.GetProperty("code").GetString() ?? "?";
                        report.Codes[code] = report.Codes.GetValueOrDefault(code) + 1;
                        // Bad input must never look like a server or store failure.
                        if (code is "internal_error" or "storage_unavailable" or "mutator_failed")
                        {
                            report.Problems.Add($"{code} for {frame}");
                        }
                        // A lone surrogate is bad_frame wherever it is (a refused hello when the first frame).
                        else if (frame.Kind == FuzzKind.LoneSurrogate && code is not ("bad_frame" or "hello_required" or "rate_limited"))
                        {
                            report.Problems.Add($"{code} (not bad_frame) for {frame}");
                        }
                        else if (frame.Kind == FuzzKind.HugeIn && Array.IndexOf(HugeInCodes, code) < 0)
                        {
                            report.Problems.Add($"{code} for {frame}");
                        }
                    }
                    else
                    {
                        report.OtherReplies++;
                    }
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    report.Problems.Add($"unreadable reply {answer.Text} to {frame}");
                }
            }
        }
        finally
        {
            socket?.Dispose();
        }
        return report;
    }

    private readonly record struct Answer(string? Text, int? CloseCode, bool TimedOut);

    private static async Task<Answer> ReceiveAsync(ClientWebSocket socket, byte[] buffer, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return new Answer(null, (int?)result.CloseStatus ?? 1005, false);
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    return new Answer(Encoding.UTF8.GetString(message.ToArray()), null, false);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Answer(null, null, true);
        }
        catch (WebSocketException)
        {
            // The server dropped the connection without a close frame (after refusing an oversized frame, say).
            return new Answer(null, (int?)socket.CloseStatus ?? 1006, false);
        }
    }
}
