using System.Text.Json;

namespace Lockstep.Core;

/// <summary>The comparison a <see cref="FilterCondition"/> makes.</summary>
public enum FilterOperator
{
    /// <summary>Equal (JSON deep equality; numbers by value; null also matches a missing field).</summary>
    Eq,
    /// <summary>Equal to one of a list.</summary>
    In,
    /// <summary>Greater than.</summary>
    Gt,
    /// <summary>Greater than or equal.</summary>
    Gte,
    /// <summary>Less than.</summary>
    Lt,
    /// <summary>Less than or equal.</summary>
    Lte,
}

/// <summary>One condition on one top-level field.</summary>
public sealed class FilterCondition
{
    private readonly JsonElement[] _operands;

    private FilterCondition(string field, FilterOperator op, JsonElement[] operands)
    {
        Field = field;
        Operator = op;
        _operands = operands;
    }

    /// <summary>The top-level field.</summary>
    public string Field { get; }

    /// <summary>The comparison.</summary>
    public FilterOperator Operator { get; }

    /// <remarks>The operands point into <paramref name="value"/>'s document, which the caller owns (a clone made for the filter).</remarks>
    internal static bool TryParse(string field, JsonElement value, out List<FilterCondition> conditions, out string? error)
    {
        conditions = [];
        error = null;
        if (value.ValueKind != JsonValueKind.Object)
        {
            conditions.Add(new FilterCondition(field, FilterOperator.Eq, [value]));
            return true;
        }
        var any = false;
        foreach (var property in value.EnumerateObject())
        {
            any = true;
            var operand = property.Value;
            switch (property.Name)
            {
                case "$eq":
                    conditions.Add(new FilterCondition(field, FilterOperator.Eq, [operand]));
                    break;
                case "$in":
                    if (operand.ValueKind != JsonValueKind.Array)
                    {
                        error = $"'{field}': $in takes an array.";
                        return false;
                    }
                    conditions.Add(new FilterCondition(field, FilterOperator.In, [.. operand.EnumerateArray()]));
                    break;
                case "$gt" or "$gte" or "$lt" or "$lte":
                    if (operand.ValueKind is not (JsonValueKind.Number or JsonValueKind.String))
                    {
                        error = $"'{field}': {property.Name} takes a number or a string.";
                        return false;
                    }
                    var op = property.Name switch
                    {
                        "$gt" => FilterOperator.Gt,
                        "$gte" => FilterOperator.Gte,
                        "$lt" => FilterOperator.Lt,
                        _ => FilterOperator.Lte,
                    };
                    conditions.Add(new FilterCondition(field, op, [operand]));
                    break;
                default:
                    error = $"'{field}': unknown operator '{property.Name}' (use $eq, $in, $gt, $gte, $lt, $lte; an object value to compare against is written as {{\"$eq\": {{...}}}}).";
                    return false;
            }
        }
        if (!any)
        {
            error = $"'{field}': an empty condition object; write {{\"$eq\": {{}}}} to match an empty object.";
            return false;
        }
        return true;
    }

    /// <summary>True when the document's field satisfies the condition.</summary>
    public bool Matches(JsonElement document)
    {
        var present = document.TryGetProperty(Field, out var value);
        switch (Operator)
        {
            case FilterOperator.Eq:
                return present ? JsonValues.Equal(value, _operands[0]) : _operands[0].ValueKind == JsonValueKind.Null;
            case FilterOperator.In:
                foreach (var operand in _operands)
                {
                    if (present ? JsonValues.Equal(value, operand) : operand.ValueKind == JsonValueKind.Null)
                    {
                        return true;
                    }
                }
                return false;
            default:
                if (!present || JsonValues.Compare(value, _operands[0]) is not { } c)
                {
                    return false;
                }
                return Operator switch
                {
                    FilterOperator.Gt => c > 0,
                    FilterOperator.Gte => c >= 0,
                    FilterOperator.Lt => c < 0,
                    _ => c <= 0,
                };
        }
    }
}
