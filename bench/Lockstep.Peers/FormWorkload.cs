using System.Globalization;
using System.Text.Json.Nodes;

namespace Lockstep.Peers;

/// <summary>
/// The workload every kind runs: 100 form documents of 20 text fields (<c>f00</c> … <c>f19</c>, 40 characters each);
/// one writer changes field <see cref="Field"/> of document i % 100 to a 40-character value that carries the write's
/// number, so a reader tells which write a change came from.
/// </summary>
internal static class FormWorkload
{
    public const int Documents = 100;
    public const int Fields = 20;
    public const int ValueLength = 40;

    /// <summary>The field the writer changes.</summary>
    public const string Field = "f07";

    private const string Prefix = "write ";

    /// <summary>The document id <c>d</c>N.</summary>
    public static string DocumentId(long d) => "d" + d.ToString(CultureInfo.InvariantCulture);

    /// <summary>The document write <paramref name="i"/> changes.</summary>
    public static string DocumentOf(long i) => DocumentId(i % Documents);

    /// <summary>A form as it is first written: every field 40 characters.</summary>
    public static JsonObject NewForm(int d)
    {
        var form = new JsonObject();
        for (var f = 0; f < Fields; f++)
        {
            form[FieldName(f)] = $"field {f} of form {d}".PadRight(ValueLength, '.');
        }
        return form;
    }

    public static string FieldName(int f) => "f" + f.ToString("D2", CultureInfo.InvariantCulture);

    /// <summary>The 40-character value of write <paramref name="i"/>: <c>write 0000000042</c> padded with dots.</summary>
    public static string Value(long i) => (Prefix + i.ToString("D10", CultureInfo.InvariantCulture)).PadRight(ValueLength, '.');

    /// <summary>The write number a value carries, or null when it is not one of <see cref="Value"/>'s.</summary>
    public static long? WriteNumber(ReadOnlySpan<char> value) =>
        value.Length == ValueLength && value.StartsWith(Prefix, StringComparison.Ordinal)
        && long.TryParse(value.Slice(Prefix.Length, 10), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;
}
