namespace Lockstep.Protocol;

/// <summary>What is wrong with JSON text a caller sent (see <see cref="JsonText"/>).</summary>
public enum JsonDefect
{
    /// <summary>Not JSON: a syntax error, or nesting past the parser's limit.</summary>
    Syntax,

    /// <summary>Well-formed JSON holding a string or field name that is not Unicode text: invalid UTF-8, or a lone surrogate escape such as <c>"\ud800"</c>.</summary>
    Text,

    /// <summary>Well-formed JSON holding a number beyond the range of a double (such as <c>1e400</c>).</summary>
    Number,
}
