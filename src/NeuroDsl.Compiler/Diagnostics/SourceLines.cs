using System;

namespace NeuroDsl.Compiler.Diagnostics;

/// <summary>A file's lines, split once: generated code quotes the line each launch came from.</summary>
public sealed class SourceLines
{
    private readonly string[] _lines;

    public SourceLines(string file, string text)
    {
        File = file;
        _lines = text.Replace("\r\n", "\n").Split('\n');
    }

    public string File { get; }

    public bool Has(int line) => line >= 1 && line <= _lines.Length;

    /// <summary>Line <paramref name="line"/> (1-based), trimmed; empty when out of range.</summary>
    public string this[int line] => Has(line) ? _lines[line - 1].Trim() : "";

    public static readonly SourceLines Empty = new("", "");
}
