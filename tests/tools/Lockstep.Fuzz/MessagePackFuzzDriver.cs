using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Lockstep.Protocol;

namespace Lockstep.Fuzz;

/// <summary>
/// <see cref="FuzzDriver"/> for <c>lockstep.v1.msgpack</c> connections: sends <see cref="MessagePackFuzzer"/>'s
/// binary frames (made from valid requests and the golden frames), a few text frames and frames over the size
/// limit, one at a time per connection, and checks that each is answered within the timeout with one well-formed
/// MessagePack frame — an <c>error</c> with the code the decoder gives the same bytes when it refuses them, never an
/// internal one — or a close with one of the protocol's codes. Pushed frames (<c>chg</c>, <c>removed</c>, <c>pos</c>,
/// a <c>snapshot</c> without id) are read past. After every burst a connection kept open for it pings the server,
/// which must answer.
/// </summary>
public static class MessagePackFuzzDriver
{
    private static readonly int[] AllowedCloseCodes = [1000, 1001, 1003, 1008, 1009, 4000];
    private static readonly string[] InternalCodes = ["internal_error", "storage_unavailable", "mutator_failed"];
    private static readonly MessagePackFrameCodec Codec = new();

    /// <summary>Frames between two pings of the probe connection.</summary>
    public const int Burst = 500;

    public static async Task<FuzzReport> RunAsync(Uri syncUrl, int seed, long frames, TimeSpan timeout, int maxFrameBytes, CancellationToken cancellationToken)
    {
        var requests = new FrameFuzzer(seed, maxFrameBytes);
        var golden = MessagePackFuzzer.GoldenFrames();
        var fuzzer = new MessagePackFuzzer(seed, r => r.Next(4) == 0 ? golden[r.Next(golden.Count)] : Encode(FrameCodecs.Json.Read(Encoding.UTF8.GetBytes(requests.ValidRequest()))));
        var random = new Random(seed);
        var report = new FuzzReport();
        var scratch = new ArrayBufferWriter<byte>();
        Connection? connection = null;
        var probe = await OpenAsync(syncUrl, requests, timeout, report, cancellationToken);
        var fresh = false;
        try
        {
            for (long i = 0; i < frames && !cancellationToken.IsCancellationRequested; i++)
            {
                if (i > 0 && i % Burst == 0)
                {
                    probe = await PingAsync(probe, syncUrl, requests, timeout, report, i, cancellationToken);
                }
                if (connection is null || connection.Socket.State != WebSocketState.Open)
                {
                    connection?.Dispose();
                    // Most connections say hello first, so the frames reach the session proper; some do not.
                    fresh = i % 7 == 0;
                    connection = fresh ? await Connection.OpenAsync(syncUrl, cancellationToken) : await OpenAsync(syncUrl, requests, timeout, report, cancellationToken);
                    if (connection is null)
                    {
                        continue;
                    }
                }
                var frame = random.Next(211) == 0 ? new MessagePackFuzzFrame(Oversized(maxFrameBytes), MessagePackFuzzKind.Oversized) : fuzzer.Next();
                // Now and then a JSON request in a text frame, which a msgpack connection closes with 1003.
                var asText = random.Next(97) == 0;
                if (asText)
                {
                    frame = new MessagePackFuzzFrame(Encoding.UTF8.GetBytes(requests.ValidRequest()), MessagePackFuzzKind.Valid);
                }
                report.Frames++;
                FuzzDriver.CountSent();
                var wasFresh = fresh;
                fresh = false;
                // What the server's decoder will make of it: a code it must answer with, or null when the frame gets further.
                string? refused = null;
                try
                {
                    Codec.ToJson(frame.Bytes, scratch);
                }
                catch (FrameFormatException e) when (!asText)
                {
                    refused = e.Code.Code;
                }
                catch (FrameFormatException)
                {
                }
                try
                {
                    await connection.Socket.SendAsync(frame.Bytes, asText ? WebSocketMessageType.Text : WebSocketMessageType.Binary, true, cancellationToken);
                }
                catch (WebSocketException)
                {
                    // The server closed while we were sending (an oversized frame is refused mid-way): a close is an answer.
                    report.Closes++;
                    continue;
                }
                var answer = await connection.ReceiveReplyAsync(timeout, report, cancellationToken);
                var what = asText ? "a JSON text frame " + Encoding.UTF8.GetString(frame.Bytes) : $"{(wasFresh ? "as the first frame, " : "")}{frame}";
                if (answer.TimedOut)
                {
                    report.Problems.Add($"no answer within {timeout.TotalSeconds} s to {what}");
                    connection.Socket.Abort();
                    continue;
                }
                if (answer.CloseCode is { } close)
                {
                    report.Closes++;
                    report.CloseCodes[close] = report.CloseCodes.GetValueOrDefault(close) + 1;
                    var expected = asText ? close == 1003 : Array.IndexOf(AllowedCloseCodes, close) >= 0;
                    if (!expected)
                    {
                        report.Problems.Add($"close code {close} is not the protocol's answer to {what}");
                    }
                    continue;
                }
                if (answer.Frame is not ErrorFrame error)
                {
                    report.OtherReplies++;
                    if (refused is not null && !asText)
                    {
                        report.Problems.Add($"a {answer.Frame!.Type} frame for bytes the decoder refuses ({refused}): {what}");
                    }
                    continue;
                }
                report.Errors++;
                report.Codes[error.Code] = report.Codes.GetValueOrDefault(error.Code) + 1;
                if (Array.IndexOf(InternalCodes, error.Code) >= 0 || ErrorCodes.Find(error.Code) is null)
                {
                    report.Problems.Add($"{error.Code} for {what}");
                }
                else if (refused is not null && !asText && error.Code != refused && error.Code is not ("hello_required" or "rate_limited" or "frame_too_large"))
                {
                    report.Problems.Add($"{error.Code} where the decoder says {refused}, for {what}");
                }
                if (error.Code is "frame_too_large" or "hello_required")
                {
                    // The close that follows these (1009, 1008) belongs to this frame, not the next.
                    var then = await connection.ReceiveReplyAsync(timeout, report, cancellationToken);
                    var closeCode = error.Code == "frame_too_large" ? 1009 : 1008;
                    if (then.CloseCode != closeCode)
                    {
                        report.Problems.Add($"{error.Code} not followed by close {closeCode} but {then.Frame?.ToString() ?? (then.TimedOut ? "nothing" : "close " + then.CloseCode)}, for {what}");
                    }
                    report.CloseCodes[closeCode] = report.CloseCodes.GetValueOrDefault(closeCode) + 1;
                }
            }
            await PingAsync(probe, syncUrl, requests, timeout, report, frames, cancellationToken);
        }
        finally
        {
            connection?.Dispose();
            probe?.Dispose();
        }
        return report;
    }

    private static byte[] Encode(Frame frame)
    {
        var output = new ArrayBufferWriter<byte>();
        Codec.Write(frame, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>A <c>mut</c> whose document is a str past the limit: <c>[5, 1, nil, [[0, "fz0", "big", nil, "xxx…"]]]</c>.</summary>
    private static byte[] Oversized(int maxFrameBytes)
    {
        var text = new string('x', maxFrameBytes + 16);
        return Encode(new MutateFrame(RawJson.Number(1), null, [new MutationOp(OpKind.Put, "fz0", "big") { Doc = RawJson.FromString(text) }]));
    }

    /// <summary>A connection that has said hello and got its welcome, or null (with a problem) when it did not.</summary>
    private static async Task<Connection?> OpenAsync(Uri syncUrl, FrameFuzzer requests, TimeSpan timeout, FuzzReport report, CancellationToken cancellationToken)
    {
        var connection = await Connection.OpenAsync(syncUrl, cancellationToken);
        if (connection.Socket.SubProtocol != MessagePackFrameCodec.Name)
        {
            report.Problems.Add($"the server chose subprotocol '{connection.Socket.SubProtocol}', not {MessagePackFrameCodec.Name}");
        }
        await connection.SendAsync(new HelloFrame(RawJson.Number(0)) { ClientId = "fuzz-mp-" + Guid.NewGuid().ToString("n")[..12], Protocol = 1 }, cancellationToken);
        var welcome = await connection.ReceiveReplyAsync(timeout, report, cancellationToken);
        if (welcome.Frame is WelcomeFrame)
        {
            return connection;
        }
        report.Problems.Add($"hello not answered with welcome: {welcome.Frame?.ToString() ?? "close " + welcome.CloseCode}");
        connection.Dispose();
        return null;
    }

    /// <summary>Pings on the probe connection (opening a new one when it is gone): the server must still answer.</summary>
    private static async Task<Connection?> PingAsync(Connection? probe, Uri syncUrl, FrameFuzzer requests, TimeSpan timeout, FuzzReport report, long after, CancellationToken cancellationToken)
    {
        if (probe is null || probe.Socket.State != WebSocketState.Open)
        {
            report.Problems.Add($"the probe connection was closed ({probe?.Socket.CloseStatus}) before the ping after {after} frames");
            probe?.Dispose();
            probe = await OpenAsync(syncUrl, requests, timeout, report, cancellationToken);
            if (probe is null)
            {
                return null;
            }
        }
        await probe.SendAsync(new PingFrame(RawJson.Number(after)), cancellationToken);
        var pong = await probe.ReceiveReplyAsync(timeout, report, cancellationToken);
        if (pong.Frame is not PongFrame { Id.Json: var id } || id != after.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            report.Problems.Add($"the ping after {after} frames was answered with {pong.Frame?.ToString() ?? (pong.TimedOut ? "nothing" : "close " + pong.CloseCode)}");
        }
        return probe;
    }

    private readonly record struct Answer(Frame? Frame, int? CloseCode, bool TimedOut);

    /// <summary>A <c>lockstep.v1.msgpack</c> WebSocket.</summary>
    private sealed class Connection : IDisposable
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private readonly ArrayBufferWriter<byte> _output = new();

        private Connection(ClientWebSocket socket) => Socket = socket;

        public ClientWebSocket Socket { get; }

        public static async Task<Connection> OpenAsync(Uri syncUrl, CancellationToken cancellationToken)
        {
            var socket = new ClientWebSocket();
            socket.Options.AddSubProtocol(MessagePackFrameCodec.Name);
            await socket.ConnectAsync(syncUrl, cancellationToken);
            return new Connection(socket);
        }

        public async Task SendAsync(Frame frame, CancellationToken cancellationToken)
        {
            _output.ResetWrittenCount();
            Codec.Write(frame, _output);
            await Socket.SendAsync(_output.WrittenMemory, WebSocketMessageType.Binary, true, cancellationToken);
        }

        /// <summary>The next frame that answers a request (reading past pushed ones), a close, or a time-out; an unreadable frame is a problem.</summary>
        public async Task<Answer> ReceiveReplyAsync(TimeSpan timeout, FuzzReport report, CancellationToken cancellationToken)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            var message = new MemoryStream();
            try
            {
                while (true)
                {
                    var result = await Socket.ReceiveAsync(_buffer, cts.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return new Answer(null, (int?)result.CloseStatus ?? 1005, false);
                    }
                    message.Write(_buffer, 0, result.Count);
                    if (!result.EndOfMessage)
                    {
                        continue;
                    }
                    var bytes = message.ToArray();
                    message.SetLength(0);
                    if (result.MessageType != WebSocketMessageType.Binary)
                    {
                        report.Problems.Add($"a text frame on a msgpack connection: {Encoding.UTF8.GetString(bytes)}");
                        continue;
                    }
                    Frame frame;
                    try
                    {
                        frame = Codec.Read(bytes);
                    }
                    catch (Exception e)
                    {
                        report.Problems.Add($"unreadable reply ({e.GetType().Name}: {e.Message}): {Convert.ToHexStringLower(bytes)}");
                        continue;
                    }
                    if (frame is ChangeFrame or RemovedFrame or PositionFrame or SnapshotFrame { Id: null })
                    {
                        report.Pushes++;
                        continue;
                    }
                    return new Answer(frame, null, false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return new Answer(null, null, true);
            }
            catch (WebSocketException)
            {
                // The server dropped the connection without a close frame (after refusing an oversized frame, say).
                return new Answer(null, (int?)Socket.CloseStatus ?? 1006, false);
            }
        }

        public void Dispose() => Socket.Dispose();
    }
}
