using System;
using System.Collections.Generic;
using System.Linq;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// The paired text of the CLIP demonstration: captions of Fashion-MNIST's ten classes made from templates ("a photo of
/// {a}") and names (several per class: "sneaker", "running shoe", "shoe for running"), tokenized by words. The
/// vocabulary is closed (every word of every caption), so a word tokenizer is exact and keeps captions short: at most
/// 10 words, 12 tokens with the start and end tokens, where the longest caption has 46 characters.
/// Ids: 0 pads, 1 starts, the words in ordinal order from 2, and the end-of-text token last (its id the largest, as
/// CLIP's, whose pooling position is <c>text.argmax(-1)</c>).
/// </summary>
internal static class ClipCaptions
{
    /// <summary>Tokens per caption: the model's <c>context</c>.</summary>
    public const int Context = 12;

    /// <summary>Each class's names, Fashion-MNIST's own first (the single prompt of zero-shot classification).</summary>
    public static readonly string[][] Names =
    {
        new[] { "t-shirt", "top", "tee" },
        new[] { "pair of trousers", "pair of pants", "pair of jeans" },
        new[] { "pullover", "sweater", "jumper" },
        new[] { "dress", "gown", "frock" },
        new[] { "coat", "jacket", "overcoat" },
        new[] { "sandal", "summer shoe", "open shoe" },
        new[] { "shirt", "button-down shirt", "blouse" },
        new[] { "sneaker", "running shoe", "trainer", "shoe for running" },
        new[] { "bag", "handbag", "purse" },
        new[] { "ankle boot", "boot", "short boot" },
    };

    /// <summary>Caption templates: {a} is the name with its article, {n} the bare name. The first is the single prompt.</summary>
    public static readonly string[] Templates =
    {
        "a photo of {a}", "a picture of {a}", "{a}", "an image of {a}", "a black and white photo of {a}",
        "a low resolution photo of {a}", "a small photo of {a}", "this is {a}", "a grey picture of {a}", "a photo of my {n}",
    };

    public const int Pad = 0, Start = 1;

    private static readonly string[] Words = Templates.SelectMany(t => Names.SelectMany(c => c.Select(n => Fill(t, n))))
        .SelectMany(Split).Distinct().Order(StringComparer.Ordinal).ToArray();

    private static readonly Dictionary<string, int> Ids = Words.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i + 2);

    /// <summary>The vocabulary's size (the model's <c>vocab</c>): padding, start, the words and the end token.</summary>
    public static int Vocabulary => Words.Length + 3;

    /// <summary>The end-of-text id, the largest.</summary>
    public static int End => Words.Length + 2;

    public static int Classes => Names.Length;

    /// <summary>The caption of one template and name.</summary>
    public static string Fill(string template, string name) =>
        template.Replace("{a}", ("aeiou".Contains(name[0]) ? "an " : "a ") + name, StringComparison.Ordinal)
            .Replace("{n}", name, StringComparison.Ordinal);

    /// <summary>Every caption of one class: each template with each of its names.</summary>
    public static IEnumerable<string> Of(int label) => Templates.SelectMany(t => Names[label].Select(n => Fill(t, n)));

    /// <summary>A random caption of a class: a template and a name drawn uniformly.</summary>
    public static string Random(int label, Func<int, int> next) =>
        Fill(Templates[next(Templates.Length)], Names[label][next(Names[label].Length)]);

    /// <summary>
    /// Writes a caption's tokens (start, words, end, padding) into <paramref name="tokens"/> (<see cref="Context"/>
    /// long) and returns the end token's position.
    /// </summary>
    public static int Encode(string caption, Span<int> tokens)
    {
        var words = Split(caption).ToArray();
        if (words.Length + 2 > tokens.Length)
            throw new ArgumentException($"'{caption}' has {words.Length} words; at most {tokens.Length - 2} fit");
        tokens.Fill(Pad);
        tokens[0] = Start;
        for (var i = 0; i < words.Length; i++)
            tokens[i + 1] = Ids.TryGetValue(words[i], out var id) ? id : throw new ArgumentException($"'{words[i]}' is not in the vocabulary");
        tokens[words.Length + 1] = End;
        return words.Length + 1;
    }

    private static IEnumerable<string> Split(string caption) => caption.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
