using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace NeuroDsl.Runtime.Text;

/// <summary>
/// Character-level text for sequence models (token input [N, T], next-character targets [N, T]): a training text and a
/// held-out text, each encoded in <see cref="CharVocabulary"/>. Training batches are windows at random offsets; the
/// held-out text is read in consecutive windows.
/// </summary>
public sealed class TextDataSet
{
    /// <summary>Where Debian's <c>fortunes</c> package installs its data files.</summary>
    public const string FortunesDirectory = "/usr/share/games/fortunes";

    public TextDataSet(string name, int[] train, int[] heldOut)
    {
        Name = name;
        Train = train;
        HeldOut = heldOut;
    }

    public string Name { get; }
    public int[] Train { get; }
    public int[] HeldOut { get; }

    /// <summary>
    /// The fortunes of Debian's <c>fortunes</c> package (every data file except the ASCII-art ones and the .dat
    /// indexes), each followed by its "%" separator line; every tenth fortune (in file order, files sorted by name) is
    /// held out.
    /// </summary>
    public static TextDataSet Fortunes(string directory = FortunesDirectory, int heldOutEvery = 10)
    {
        if (!Directory.Exists(directory))
            throw new FileNotFoundException($"no fortunes in {directory}: install Debian's 'fortunes' package (apt-get install fortunes)");
        var files = Directory.GetFiles(directory)
            .Where(f => Path.GetExtension(f) is not ".dat" and not ".u8" && new FileInfo(f).LinkTarget is null)
            .Where(f => Path.GetFileName(f) is not "art" and not "ascii-art")
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"no fortune files in {directory}");
        var train = new List<int>();
        var heldOut = new List<int>();
        var index = 0;
        foreach (var file in files)
            foreach (var fortune in SplitFortunes(File.ReadAllText(file)))
                (index++ % heldOutEvery == heldOutEvery - 1 ? heldOut : train).AddRange(CharVocabulary.Encode(fortune + "%\n"));
        return new TextDataSet("fortunes", train.ToArray(), heldOut.ToArray());
    }

    /// <summary>A plain text file: the last tenth is held out.</summary>
    public static TextDataSet FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
        var all = CharVocabulary.Encode(File.ReadAllText(path));
        var cut = all.Length - all.Length / 10;
        return new TextDataSet(Path.GetFileName(path), all[..cut], all[cut..]);
    }

    /// <summary>The fortunes of one file's text: the lines between lines that hold only "%".</summary>
    public static IEnumerable<string> SplitFortunes(string text)
    {
        var current = new System.Text.StringBuilder();
        foreach (var line in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (line == "%")
            {
                if (current.Length > 0) yield return current.ToString();
                current.Clear();
            }
            else current.Append(line).Append('\n');
        }
        if (current.ToString().Trim().Length > 0) yield return current.ToString();
    }

    /// <summary>
    /// Fills a training batch: <paramref name="tokens"/> and <paramref name="targets"/> are [batch, length], row b the
    /// window of the training text at a random offset and the same window one character later.
    /// </summary>
    public void SampleBatch(ref SplitMix64 rng, int batch, int length, int[] tokens, int[] targets)
    {
        if (Train.Length <= length + 1) throw new InvalidDataException($"{Name}: {Train.Length} training characters, fewer than a window of {length + 1}");
        for (var b = 0; b < batch; b++)
        {
            var start = (int)(rng.Next() % (ulong)(Train.Length - length - 1));
            Array.Copy(Train, start, tokens, b * length, length);
            Array.Copy(Train, start + 1, targets, b * length, length);
        }
    }

    /// <summary>Held-out batches of consecutive windows (the incomplete last one left out), at most <paramref name="limit"/>.</summary>
    public IEnumerable<(int[] Tokens, int[] Targets)> HeldOutBatches(int batch, int length, int limit = int.MaxValue)
    {
        var perBatch = batch * length;
        for (var (start, n) = (0, 0); start + perBatch + 1 <= HeldOut.Length && n < limit; start += perBatch, n++)
            yield return (HeldOut[start..(start + perBatch)], HeldOut[(start + 1)..(start + perBatch + 1)]);
    }
}
