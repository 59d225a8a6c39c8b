using System;

namespace NeuroDsl.Compiler.Diagnostics;

/// <summary>A located range of a `.nd` file: 1-based line and column of its start, offsets into the text.</summary>
public readonly record struct SourceSpan(string File, int Line, int Column, int Start, int Length)
{
    public static SourceSpan None(string file) => new(file, 1, 1, 0, 0);

    public int End => Start + Length;

    /// <summary>The whole source line this span starts on, trimmed, for comments in generated code.</summary>
    public string LineText(string text)
    {
        if (Start > text.Length) return "";
        var begin = text.LastIndexOf('\n', Math.Max(0, Math.Min(Start, text.Length) - 1));
        begin = Start == 0 ? 0 : begin + 1;
        var end = text.IndexOf('\n', Math.Min(Start, text.Length));
        if (end < 0) end = text.Length;
        return text.Substring(begin, Math.Max(0, end - begin)).Trim();
    }

    public override string ToString() => $"{File}({Line},{Column})";
}
