using System.Buffers;
using System.Text.Json;

namespace Lockstep.Server;

/// <summary>A reusable buffer with a JSON writer for composing one outgoing frame at a time.</summary>
internal sealed class FrameBuffer : IDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = Lockstep.Core.LockstepJson.Encoder };
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _writer;

    public FrameBuffer()
    {
        _writer = new Utf8JsonWriter(_buffer, WriterOptions);
    }

    /// <summary>Starts a new frame; the writer is positioned inside the top-level object after <c>t</c>.</summary>
    public Utf8JsonWriter Begin(string type)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        _writer.WriteStartObject();
        _writer.WriteString("t", type);
        return _writer;
    }

    /// <summary>Ends the frame and returns its bytes (valid until the next <see cref="Begin"/>).</summary>
    public ReadOnlyMemory<byte> End()
    {
        _writer.WriteEndObject();
        _writer.Flush();
        return _buffer.WrittenMemory;
    }

    public void Dispose() => _writer.Dispose();
}
