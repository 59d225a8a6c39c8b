using System.Collections.Generic;
using NeuroDsl.Compiler.Diagnostics;

namespace NeuroDsl.Compiler.Syntax;

/// <summary>
/// One linear pass over a file's characters before the grammar runs: it finds the comments (for node spans) and
/// reports the lexical errors whose cause is far from where a parser notices them — an unterminated string and a
/// bracket or brace still open at the end of the file — at the character that opens them.
/// </summary>
internal sealed class SourceScan
{
    private readonly List<int> _commentStarts = new();
    private readonly List<int> _commentEnds = new();

    private SourceScan()
    {
    }

    /// <summary>Scans <paramref name="text"/>; a lexical error goes to <paramref name="diagnostics"/>.</summary>
    public static SourceScan Run(string file, string text, DiagnosticBag diagnostics)
    {
        var scan = new SourceScan();
        // Open brackets, innermost last. A closer that does not match leaves the report to the parser, which names
        // what it expected there; only brackets still open at the end are reported here.
        var open = new Stack<(char Bracket, int Position, int Line, int Column)>();
        var mismatched = false;
        int line = 1, column = 1;
        for (var i = 0; i < text.Length; i++, column++)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
                column = 0;
            }
            else if (c == '#')
            {
                var end = text.IndexOf('\n', i);
                if (end < 0) end = text.Length;
                scan._commentStarts.Add(i);
                scan._commentEnds.Add(end);
                column += end - i - 1;
                i = end - 1;
            }
            else if (c == '"')
            {
                var (startLine, startColumn) = (line, column);
                var j = i + 1;
                while (j < text.Length && text[j] != '"' && text[j] != '\n') j += text[j] == '\\' && j + 1 < text.Length && text[j + 1] != '\n' ? 2 : 1;
                if (j >= text.Length || text[j] != '"')
                {
                    diagnostics.Error(Codes.UnterminatedString, new SourceSpan(file, startLine, startColumn, i, 1),
                        "a string ends on the line where it starts");
                    return scan;
                }
                column += j - i;
                i = j;
            }
            else if (c is '(' or '[' or '{')
                open.Push((c, i, line, column));
            else if (c is ')' or ']' or '}' && !mismatched)
            {
                if (open.Count > 0 && Closer(open.Peek().Bracket) == c) open.Pop();
                else mismatched = true;
            }
        }
        if (!mismatched && open.Count > 0)
        {
            // The innermost: it is the one to close first, and the only one when a model's '}' is missing.
            var first = open.Peek();
            diagnostics.Error(Codes.UnclosedBracket, new SourceSpan(file, first.Line, first.Column, first.Position, 1),
                $"nothing closes it before the end of the file; add '{Closer(first.Bracket)}'",
                first.Bracket, Closer(first.Bracket));
        }
        return scan;
    }

    private static char Closer(char open) => open switch { '(' => ')', '[' => ']', _ => '}' };

    /// <summary>The start of the comment that holds the character before <paramref name="position"/>, if any.</summary>
    public int? CommentStartBefore(int position)
    {
        var k = _commentStarts.BinarySearch(position - 1);
        if (k < 0) k = ~k - 1;
        return k >= 0 && position <= _commentEnds[k] ? _commentStarts[k] : null;
    }
}
