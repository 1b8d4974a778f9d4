using System.Text.Json;

namespace Lockstep.Core;

/// <summary>Equality and ordering of JSON values as filters use them.</summary>
public static class JsonValues
{
    /// <summary>Deep equality; numbers compare by value (1 equals 1.0).</summary>
    public static bool Equal(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
        {
            return CompareNumbers(a, b) == 0;
        }
        if (a.ValueKind != b.ValueKind)
        {
            return false;
        }
        switch (a.ValueKind)
        {
            case JsonValueKind.String:
                return a.ValueEquals(b.GetString());
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength())
                {
                    return false;
                }
                using (var ea = a.EnumerateArray())
                using (var eb = b.EnumerateArray())
                {
                    while (ea.MoveNext() && eb.MoveNext())
                    {
                        if (!Equal(ea.Current, eb.Current))
                        {
                            return false;
                        }
                    }
                }
                return true;
            case JsonValueKind.Object:
                var count = 0;
                foreach (var property in a.EnumerateObject())
                {
                    count++;
                    if (!b.TryGetProperty(property.Name, out var other) || !Equal(property.Value, other))
                    {
                        return false;
                    }
                }
                return count == b.EnumerateObject().Count();
            default:
                return true; // true, false, null
        }
    }

    /// <summary>Orders two numbers or two strings; null when they are not comparable.</summary>
    public static int? Compare(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
        {
            return CompareNumbers(a, b);
        }
        if (a.ValueKind == JsonValueKind.String && b.ValueKind == JsonValueKind.String)
        {
            return Math.Sign(string.CompareOrdinal(a.GetString(), b.GetString()));
        }
        return null;
    }

    private static int CompareNumbers(JsonElement a, JsonElement b)
    {
        if (a.TryGetDecimal(out var da) && b.TryGetDecimal(out var db))
        {
            return da.CompareTo(db);
        }
        return a.GetDouble().CompareTo(b.GetDouble());
    }
}
