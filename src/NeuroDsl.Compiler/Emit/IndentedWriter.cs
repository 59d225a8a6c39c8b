using System.Text;

namespace NeuroDsl.Compiler.Emit;

/// <summary>A minimal indenting writer for emitters; output always uses '\n' line ends.</summary>
public sealed class IndentedWriter
{
    private readonly StringBuilder _sb = new();
    private int _indent;

    public IndentedWriter Line(string text = "")
    {
        if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
        _sb.Append('\n');
        return this;
    }

    public IndentedWriter Open(string text = "{")
    {
        Line(text);
        _indent++;
        return this;
    }

    public IndentedWriter Close(string text = "}")
    {
        _indent--;
        return Line(text);
    }

    /// <summary>Writes a multi-line block verbatim (no indentation), e.g. the body of a raw string literal.</summary>
    public IndentedWriter Raw(string text)
    {
        _sb.Append(text);
        return this;
    }

    public override string ToString() => _sb.ToString();
}
