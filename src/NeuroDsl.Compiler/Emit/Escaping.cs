using System.Globalization;
using System.Text;

namespace NeuroDsl.Compiler.Emit;

/// <summary>
/// The only ways text from a `.nd` file reaches generated C# and OpenCL: as an escaped string literal, or
/// as a one-line comment that cannot end early (no newlines, no line splices, no comment terminators).
/// </summary>
public static class Escaping
{
    /// <summary>A C# regular string literal, quotes included.</summary>
    public static string CSharpString(string? value)
    {
        if (value is null) return "null";
        var sb = new StringBuilder("\"");
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c > 0x7E) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>
    /// Text safe inside a <c>//</c> comment in both C# and OpenCL C: printable ASCII only, and no backslash
    /// (a trailing one would splice the next OpenCL line into the comment).
    /// </summary>
    public static string Comment(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            var ascii = c switch
            {
                '\u00d7' => "x", '\u00b7' => ".", '\u2014' or '\u2013' or '\u2212' => "-", '\u2192' => "->", '\u2190' => "<-",
                '\u2264' => "<=", '\u2265' => ">=", '\u00b2' => "^2", '\u2018' or '\u2019' => "'", '\u201c' or '\u201d' => "\"",
                '\\' => "/",
                _ => c < 0x20 || c > 0x7E ? "?" : null,
            };
            if (ascii is null) sb.Append(c);
            else sb.Append(ascii);
        }
        return sb.ToString().TrimEnd();
    }

    /// <summary>
    /// A <c>#line</c> directive's file name, quotes included, or null when the path cannot be one (a quote or a line
    /// break in it): C# takes the name verbatim, without escapes, up to the next quote.
    /// </summary>
    public static string? LineDirectiveFile(string? path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        foreach (var c in path!)
            if (c is '"' or '\r' or '\n' or '\u0085' or '\u2028' or '\u2029') return null;
        return "\"" + path + "\"";
    }
}
