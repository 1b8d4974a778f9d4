using System.Buffers;
using MessagePack;

namespace Lockstep.Protocol;

/// <summary>
/// A <c>chg</c> or <c>removed</c> frame encoded once for every subscriber it goes to: only the subscription id
/// differs between them, so the bytes before and after it are kept and each subscriber's id is spliced in
/// (<see cref="WriteTo"/>), giving exactly what <see cref="IFrameCodec.Write"/> gives for the frame with that id.
/// </summary>
public sealed class SharedFrame
{
    private readonly byte[] _bytes;
    private readonly int _subAt;
    private readonly int _subLength;

    private SharedFrame(IFrameCodec codec, byte[] bytes, int subAt, int subLength)
    {
        Codec = codec;
        _bytes = bytes;
        _subAt = subAt;
        _subLength = subLength;
    }

    /// <summary>The encoding the bytes are in.</summary>
    public IFrameCodec Codec { get; }

    /// <summary>
    /// Encodes <paramref name="frame"/> (a <see cref="ChangeFrame"/> or <see cref="RemovedFrame"/>; its <c>Sub</c> is
    /// ignored) for sharing. Both encodings write the subscription id right after the frame's type, as a string.
    /// </summary>
    public static SharedFrame Encode(IFrameCodec codec, Frame frame)
    {
        ArgumentNullException.ThrowIfNull(codec);
        var blank = frame switch
        {
            ChangeFrame f => (Frame)(f with { Sub = "" }),
            RemovedFrame f => f with { Sub = "" },
            _ => throw new ArgumentException($"Only chg and removed frames are shared, not {frame?.Type}.", nameof(frame)),
        };
        var output = new ArrayBufferWriter<byte>(256);
        codec.Write(blank, output);
        var bytes = output.WrittenSpan.ToArray();
        // Where the empty id is: MessagePack writes [n, type, "" (a fixarray header, a positive fixint, an empty
        // fixstr 0xa0), JSON {"t":"chg","sub":"" — both fixed by the writers and checked here.
        if (codec.IsBinary)
        {
            if (bytes.Length < 3 || bytes[2] != 0xa0)
            {
                throw new InvalidOperationException("The MessagePack codec no longer writes the subscription id third.");
            }
            return new SharedFrame(codec, bytes, subAt: 2, subLength: 1);
        }
        var head = System.Text.Encoding.UTF8.GetBytes($"{{\"t\":\"{FrameTypes.Name(blank.Type)}\",\"sub\":\"\"");
        if (!bytes.AsSpan().StartsWith(head))
        {
            throw new InvalidOperationException("The JSON codec no longer writes the subscription id after the type.");
        }
        return new SharedFrame(codec, bytes, subAt: head.Length - 2, subLength: 2);
    }

    /// <summary>Writes the frame addressed to subscription <paramref name="sub"/>.</summary>
    public void WriteTo(string sub, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(sub);
        ArgumentNullException.ThrowIfNull(output);
        output.Write(_bytes.AsSpan(0, _subAt));
        if (Codec.IsBinary)
        {
            var writer = new MessagePackWriter(output);
            writer.Write(sub);
            writer.Flush();
        }
        else
        {
            var writer = JsonCodecText.Writer(output);
            writer.WriteStringValue(sub);
            writer.Flush();
        }
        output.Write(_bytes.AsSpan(_subAt + _subLength));
    }
}
