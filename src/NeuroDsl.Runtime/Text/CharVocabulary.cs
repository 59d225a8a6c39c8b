using System;
using System.Text;

namespace NeuroDsl.Runtime.Text;

/// <summary>
/// The 96 symbols of the character models: newline (0) and the printable ASCII characters ' '..'~' (1..95). A tab reads
/// as a space; any other character (accented letters, control codes) is dropped when text is encoded.
/// </summary>
public static class CharVocabulary
{
    public const int Size = 96;

    /// <summary>The index of a character, or −1 for one outside the vocabulary.</summary>
    public static int Index(char c) => c switch
    {
        '\n' => 0,
        '\t' => 1,
        >= ' ' and <= '~' => c - ' ' + 1,
        _ => -1,
    };

    public static char Char(int index) => index == 0 ? '\n' : (char)(' ' + index - 1);

    /// <summary>Encodes text, dropping characters outside the vocabulary.</summary>
    public static int[] Encode(string text)
    {
        var result = new int[text.Length];
        var n = 0;
        foreach (var c in text)
        {
            var i = Index(c);
            if (i >= 0) result[n++] = i;
        }
        return result.AsSpan(0, n).ToArray();
    }

    public static string Decode(ReadOnlySpan<int> tokens)
    {
        var sb = new StringBuilder(tokens.Length);
        foreach (var t in tokens) sb.Append(t >= 0 && t < Size ? Char(t) : '?');
        return sb.ToString();
    }
}
