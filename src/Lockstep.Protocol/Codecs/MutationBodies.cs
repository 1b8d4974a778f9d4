using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>
/// The body of REST <c>POST /v1/mutations</c> (docs/protocol.md §9) as a caller writes it — an atomic batch of ops,
/// <c>{"ops":[…]}</c>, or a mutator call, <c>{"name","args"}</c>, sent behind the <c>clientId</c> and <c>mid</c> it is
/// written under — and the answer as the caller reads it: an ack's fields, or a problem (<see cref="ProblemBody"/>). The ops and the call are
/// written by the <c>mut</c> and <c>call</c> frames' own writer; the server reads the body with
/// <see cref="RequestReader"/> and <see cref="MutationReader"/>.
/// </summary>
/// <remarks>
/// These bodies are written with System.Text.Json's default escaping (non-ASCII and HTML-sensitive characters as
/// <c>\uXXXX</c>), not the frames' relaxed one: Lockstep.Outbox keeps <see cref="WriteOps"/>' and <see cref="WriteCall"/>'s
/// strings in its table, so a change to their spelling is a format change. Keep in step with the golden tests in
/// tests/Lockstep.Protocol.Tests/MutationBodyTests.cs and tests/Lockstep.Outbox.Tests/RelayUnitTests.cs.
/// </remarks>
public static class MutationBodies
{
    /// <summary>The one op as its JSON object, as <c>mut</c> carries it.</summary>
    public static string WriteOp(MutationOp op)
    {
        ArgumentNullException.ThrowIfNull(op);
        return Write(w => JsonFrameWriter.WriteOp(w, op));
    }

    /// <summary>An atomic batch of ops: <c>{"ops":[…]}</c> (no <c>mid</c>: <see cref="TryWriteRequest"/> puts it in front when it is sent).</summary>
    public static string WriteOps(IEnumerable<MutationOp> ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        return Write(w =>
        {
            w.WriteStartObject();
            JsonFrameWriter.WriteMutateFields(w, null, ops);
            w.WriteEndObject();
        });
    }

    /// <summary>A call of the server-side mutator <paramref name="name"/>: <c>{"name","args"}</c>, without <c>args</c> when there are none.</summary>
    public static string WriteCall(string name, RawJson? args)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Write(w =>
        {
            w.WriteStartObject();
            JsonFrameWriter.WriteCallFields(w, null, name, args);
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// True when <paramref name="body"/> has a mutation body's shape before it is sent: an object with <c>ops</c> (an array) or
    /// <c>name</c> (a string), not both, and neither <c>clientId</c> nor <c>mid</c> (they belong to the sender). The ops are not
    /// checked here; the server checks them.
    /// </summary>
    public static bool IsMutation(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || body.TryGetProperty("clientId", out _) || body.TryGetProperty("mid", out _))
        {
            return false;
        }
        var hasOps = body.TryGetProperty("ops", out var ops);
        var hasName = body.TryGetProperty("name", out var name);
        return hasOps ? ops.ValueKind == JsonValueKind.Array && !hasName : hasName && name.ValueKind == JsonValueKind.String;
    }

    /// <summary>
    /// The request: <c>clientId</c> and <c>mid</c>, then every field of <paramref name="mutation"/> (a mutation body's JSON,
    /// its own <c>clientId</c> and <c>mid</c> left out) as it is. False, with why, when <paramref name="mutation"/> is not a JSON object.
    /// </summary>
    public static bool TryWriteRequest(string clientId, long mid, string mutation, [NotNullWhen(true)] out byte[]? body, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(mutation);
        body = null;
        JsonDocument stored;
        try
        {
            stored = JsonDocument.Parse(mutation);
        }
        catch (JsonException e)
        {
            error = e.Message;
            return false;
        }
        using (stored)
        {
            if (stored.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = $"a JSON {stored.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object";
                return false;
            }
            var buffer = new ArrayBufferWriter<byte>(mutation.Length + 64);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("clientId", clientId);
                w.WriteNumber("mid", mid);
                foreach (var property in stored.RootElement.EnumerateObject())
                {
                    if (!property.NameEquals("clientId") && !property.NameEquals("mid"))
                    {
                        property.WriteTo(w);
                    }
                }
                w.WriteEndObject();
            }
            body = buffer.WrittenSpan.ToArray();
            error = null;
            return true;
        }
    }

    /// <summary>
    /// A committed mutation's answer: an ack's fields (<c>seq</c>, <c>results</c>, <c>result</c>, <c>dup</c>), as the server writes
    /// them with <see cref="JsonBodies.WriteAckFields"/>. False when <paramref name="body"/> is not that (not JSON, a proxy's page, a field of the wrong type).
    /// </summary>
    public static bool TryReadAnswer(ReadOnlyMemory<byte> body, [NotNullWhen(true)] out AckFrame? ack)
    {
        ack = null;
        if (!JsonText.TryParse(body, out var doc, out _))
        {
            return false;
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return false;
            }
            try
            {
                ack = JsonFrameReader.Ack(doc.RootElement, null);
                return true;
            }
            catch (Exception e) when (e is FrameFormatException or InvalidOperationException or FormatException or OverflowException)
            {
                return false;
            }
        }
    }

    private static string Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Default options: the default encoder, the escaping these bodies have always been stored with (see the remarks).
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// A request as the server reads it: its <c>clientId</c> and <c>mid</c> (each optional; <c>mid</c> a positive integer, the
    /// client id held to <see cref="Names.IsValidClientId"/>), and either a call (<c>name</c>, with its <c>args</c>) or a batch
    /// (<c>ops</c>, checked later by <see cref="MutationReader"/> against the server's limit). False with the refusal otherwise.
    /// </summary>
    public static bool TryReadRequest(JsonElement root, [NotNullWhen(true)] out MutationRequest? request, [NotNullWhen(false)] out RequestError? error)
    {
        request = null;
        if (!RequestReader.TryReadMid(root, out var mid, out var midError))
        {
            error = midError!;
            return false;
        }
        var clientId = RequestReader.GetString(root, "clientId");
        if (clientId is not null && !Names.IsValidClientId(clientId))
        {
            error = RequestError.Invalid(RequestReader.InvalidClientIdMessage("'clientId'"));
            return false;
        }
        if (RequestReader.GetString(root, "name") is { } name)
        {
            request = new MutationRequest(clientId, mid) { Name = name, Args = root.TryGetProperty("args", out var args) ? args : default };
        }
        else if (root.TryGetProperty("ops", out var ops))
        {
            request = new MutationRequest(clientId, mid) { Ops = ops };
        }
        else
        {
            error = RequestError.Invalid("A mutation has 'ops' (a batch) or 'name' and 'args' (a mutator call).");
            return false;
        }
        error = null;
        return true;
    }
}

/// <summary>A <c>POST /v1/mutations</c> body as <see cref="MutationBodies.TryReadRequest"/> read it; its elements belong to the document read.</summary>
/// <param name="ClientId">The client id the write is numbered under, or null.</param>
/// <param name="Mid">The write's number, or null.</param>
public sealed record MutationRequest(string? ClientId, long? Mid)
{
    /// <summary>The mutator a call names; null for a batch.</summary>
    public string? Name { get; init; }

    /// <summary>A call's arguments (undefined when none were given).</summary>
    public JsonElement Args { get; init; }

    /// <summary>A batch's ops, unchecked (undefined for a call).</summary>
    public JsonElement Ops { get; init; }
}
