using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Lockstep.Fuzz;

/// <summary>
/// The REST side of the fuzz harness: JSON bodies with lone surrogates, invalid UTF-8, numbers beyond
/// a double, flipped bytes and garbage, sent to every endpoint that reads a body; listings with
/// hostile filters (lone surrogates, <c>$in</c> of thousands of items); requests and WebSocket
/// upgrades carrying a foreign <c>Origin</c> or <c>Host</c>. Every request must be answered within
/// the timeout, never with a 5xx (503 <c>overloaded</c> aside), and a problem+json answer must carry
/// a code. Foreign origins are expected to be refused with 403; until Host checking is in place a
/// foreign Host is only held to "not a 5xx".
/// </summary>
public static class RestFuzzDriver
{
    private static readonly (HttpMethod Method, string Path, string Body)[] Endpoints =
    [
        (HttpMethod.Post, "/v1/mutations", """{"ops":[{"op":"put","collection":"fz0","id":"r1","doc":{"n":1,"tags":["a","b"]}}]}"""),
        (HttpMethod.Post, "/v1/mutations", """{"clientId":"fuzz-rest","mid":1,"ops":[{"op":"patch","collection":"fz0","id":"r2","set":{"n":2,"o.p":"x"}}]}"""),
        (HttpMethod.Post, "/v1/mutations", """{"name":"nope","args":{"x":1}}"""),
        (HttpMethod.Put, "/v1/collections/fz0/docs/r3", """{"n":3,"s":"text"}"""),
        (HttpMethod.Patch, "/v1/collections/fz0/docs/r3", """{"n":4}"""),
        (HttpMethod.Post, "/v1/queues/fzq/jobs", """{"payload":{"x":1},"lane":"a"}"""),
        (HttpMethod.Post, "/v1/groups/fzg/claim", """{"member":"m1","partitions":2,"leaseMs":1000}"""),
    ];

    public static async Task<FuzzReport> RunAsync(Uri httpUrl, int seed, long requests, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var random = new Random(seed);
        var fuzzer = new FrameFuzzer(seed);
        var report = new FuzzReport();
        using var http = new HttpClient { BaseAddress = httpUrl, Timeout = timeout };
        for (long i = 0; i < requests && !cancellationToken.IsCancellationRequested; i++)
        {
            report.Frames++;
            var kind = random.Next(8);
            string what;
            try
            {
                if (kind == 7)
                {
                    what = await UpgradeAsync(httpUrl, random, report, timeout, cancellationToken);
                    continue;
                }
                using var request = Build(kind, random, fuzzer, httpUrl, out what);
                using var response = await http.SendAsync(request, cancellationToken);
                await JudgeAsync(response, what, report, cancellationToken);
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                report.Problems.Add($"no answer within {timeout.TotalSeconds} s (REST kind {kind})");
            }
            catch (HttpRequestException e)
            {
                report.Problems.Add($"REST kind {kind}: the connection failed: {e.Message}");
            }
        }
        return report;
    }

    private static HttpRequestMessage Build(int kind, Random random, FrameFuzzer fuzzer, Uri httpUrl, out string what)
    {
        var (method, path, body) = Endpoints[random.Next(Endpoints.Length)];
        var request = new HttpRequestMessage(method, path);
        byte[] bytes;
        switch (kind)
        {
            case 0:
                what = "lone surrogate";
                bytes = Encoding.UTF8.GetBytes(fuzzer.LoneSurrogate(body));
                break;
            case 1:
                what = "invalid UTF-8";
                var list = Encoding.UTF8.GetBytes(body).ToList();
                byte[][] bad = [[0xC3], [0xFF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82]];
                list.InsertRange(random.Next(list.Count + 1), bad[random.Next(bad.Length)]);
                bytes = [.. list];
                break;
            case 2:
                what = "huge number";
                string[] numbers = ["1e400", "-1e400", "1E+999", "123456789012345678901234567890e300"];
                // Every number that is a field's value (the bodies' strings hold digits too) becomes huge.
                bytes = Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(body, "(?<=:)[0-9]+", numbers[random.Next(numbers.Length)]));
                break;
            case 3:
                what = "flipped bytes";
                bytes = Encoding.UTF8.GetBytes(body);
                for (var f = random.Next(1, 4); f > 0; f--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }
                break;
            case 4:
                what = "hostile filter";
                var filter = random.Next(3) switch
                {
                    0 => fuzzer.LoneSurrogate("""{"n":{"$in":["a","b"]},"s":"x"}"""),
                    1 => """{"n":{"$in":[""" + string.Join(',', Enumerable.Range(0, random.Next(5_000, 20_000)).Select(n => (n % 10).ToString(CultureInfo.InvariantCulture))) + "]}}",
                    _ => """{"n":{"$gt":1e400}}""",
                };
                request.Dispose();
                return new HttpRequestMessage(HttpMethod.Get, "/v1/collections/fz0/docs?filter=" + Uri.EscapeDataString(filter));
            case 5:
                what = "foreign Origin";
                request.Headers.TryAddWithoutValidation("Origin", random.Next(2) == 0 ? "https://evil.example" : "null");
                bytes = Encoding.UTF8.GetBytes(body);
                break;
            default:
                what = "foreign Host";
                request.Headers.Host = "rebind.example:" + httpUrl.Port.ToString(CultureInfo.InvariantCulture);
                if (random.Next(2) == 0)
                {
                    request.Headers.TryAddWithoutValidation("Origin", "http://rebind.example:" + httpUrl.Port.ToString(CultureInfo.InvariantCulture));
                }
                bytes = Encoding.UTF8.GetBytes(body);
                break;
        }
        what += $" {method} {path}";
        request.Content = new ByteArrayContent(bytes);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return request;
    }

    private static async Task JudgeAsync(HttpResponseMessage response, string what, FuzzReport report, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        report.Statuses[status] = report.Statuses.GetValueOrDefault(status) + 1;
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        string? code = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
        {
            try
            {
                using var problem = JsonDocument.Parse(text);
                code = problem.RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
            }
            catch (JsonException)
            {
            }
            if (code is null)
            {
                report.Problems.Add($"{status} problem without a code for {what}: {text[..Math.Min(text.Length, 160)]}");
                return;
            }
            report.Codes[code] = report.Codes.GetValueOrDefault(code) + 1;
        }
        if (status >= 400)
        {
            report.Errors++;
        }
        else
        {
            report.OtherReplies++;
        }
        if (status >= 500 && code != "overloaded")
        {
            report.Problems.Add($"{status} {code} for {what}: {text[..Math.Min(text.Length, 160)]}");
        }
        else if (code is "internal_error" or "storage_unavailable" or "mutator_failed")
        {
            report.Problems.Add($"{code} for {what}");
        }
        else if (what.StartsWith("lone surrogate", StringComparison.Ordinal) && status is >= 200 and < 300)
        {
            report.Problems.Add($"{status}: a lone surrogate was accepted by {what}");
        }
        else if (what.StartsWith("huge number", StringComparison.Ordinal) && status is >= 200 and < 300)
        {
            report.Problems.Add($"{status}: a number beyond a double was accepted by {what}");
        }
    }

    /// <summary>A WebSocket upgrade with a foreign Origin (must be refused: 403) or a foreign Host and Origin (a rebinding page: never a 5xx).</summary>
    private static async Task<string> UpgradeAsync(Uri httpUrl, Random random, FuzzReport report, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var port = httpUrl.Port.ToString(CultureInfo.InvariantCulture);
        var rebinding = random.Next(2) == 0;
        var host = rebinding ? "rebind.example:" + port : httpUrl.Authority;
        var origin = rebinding ? "http://rebind.example:" + port : "https://evil.example";
        var what = rebinding ? "upgrade with a foreign Host and Origin" : "upgrade with a foreign Origin";
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(httpUrl.Host, httpUrl.Port, cts.Token);
            var stream = tcp.GetStream();
            var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            var head = $"GET /v1/sync HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), cts.Token);
            var buffer = new byte[512];
            var read = await stream.ReadAsync(buffer, cts.Token);
            var line = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
            var parts = line.Split(' ');
            if (parts.Length < 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
            {
                report.Problems.Add($"{what}: no HTTP status line: {line}");
                return what;
            }
            report.Statuses[status] = report.Statuses.GetValueOrDefault(status) + 1;
            if (status >= 400)
            {
                report.Errors++;
            }
            else
            {
                report.OtherReplies++;
            }
            if (status >= 500 || (!rebinding && status != 403))
            {
                report.Problems.Add($"{what}: {status} (a foreign Origin is refused with 403)");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            report.Problems.Add($"{what}: no answer within {timeout.TotalSeconds} s");
        }
        catch (IOException e)
        {
            report.Problems.Add($"{what}: the connection failed: {e.Message}");
        }
        return what;
    }
}
