using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Text;
using static NeuroDsl.Cli.Demos.SequenceDemos;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// word2vec (models/word2vec.nd: skip-gram, 5 negative samples, 10,000 words, 300-d) trained on the words of Debian's
/// fortunes, then the nearest neighbours (cosine of the input vectors) of a few words.
/// </summary>
internal static partial class Word2VecDemo
{
    private const int Vocabulary = 10_000, Dimensions = 300, Negatives = 5, Window = 5;

    [GeneratedRegex("[a-z]+(?:'[a-z]+)?")]
    private static partial Regex WordPattern();

    public static IReadOnlyDictionary<string, double> Run(DemoSettings s, Device device, TextWriter log)
    {
        var words = new List<string>();
        foreach (var file in Directory.GetFiles(TextDataSet.FortunesDirectory).Where(f => Path.GetExtension(f) is "" && new FileInfo(f).LinkTarget is null)
                     .Where(f => Path.GetFileName(f) is not "art" and not "ascii-art").Order(StringComparer.Ordinal))
            words.AddRange(WordPattern().Matches(File.ReadAllText(file).ToLowerInvariant()).Select(m => m.Value));
        // The 9,999 most frequent words and one id (0) for every other word.
        var counts = words.GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
        var vocabulary = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Take(Vocabulary - 1).Select(c => c.Key).ToList();
        vocabulary.Insert(0, "<other>");
        var ids = vocabulary.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i);
        var corpus = words.Select(w => ids.GetValueOrDefault(w, 0)).ToArray();
        var frequency = new double[Vocabulary];
        foreach (var id in corpus) frequency[id]++;
        // Noise words from the unigram distribution to the 3/4 power (eq. 5's P_n); frequent words are kept with
        // probability √(t / f) (the paper's subsampling, section 2.3, with t = 1e-4 for a corpus of this size).
        var noiseCdf = new double[Vocabulary];
        var total = 0.0;
        for (var i = 0; i < Vocabulary; i++) noiseCdf[i] = total += Math.Pow(frequency[i], 0.75);
        var keep = frequency.Select(f => f == 0 ? 1 : Math.Min(1, Math.Sqrt(1e-4 / (f / corpus.Length)))).ToArray();
        var rng = new SplitMix64(s.Seed);
        int Noise()
        {
            var u = rng.NextDouble() * total;
            var i = Array.BinarySearch(noiseCdf, u);
            return Math.Min(Vocabulary - 1, i < 0 ? ~i : i);
        }

        // Large batches: the step's fixed cost is Adam over all 6M parameters.
        var batch = s.Small ? 256 : 2048;
        var maxSteps = s.Small ? 30 : 100_000;
        var minutes = s.Minutes ?? (s.Small ? 3.0 : 6.0);
        var m = Load("word2vec.nd", "Word2Vec");
        using var model = Create(m, device, s.Seed, batch);
        var optimizer = new Adam(0.005f);
        log.WriteLine($"word2vec (Mikolov et al. 2013), skip-gram with {Negatives} negative samples, {Vocabulary:N0} words × {Dimensions}: "
            + $"{corpus.Length:N0} words of fortunes ({counts.Count:N0} distinct), window {Window}, batch {batch} pairs, Adam 0.005, "
            + $"at most {minutes} min");
        var (center, context, noise) = (new int[batch], new int[batch], new int[batch * Negatives]);
        var watch = Stopwatch.StartNew();
        var steps = 0;
        var sum = 0.0;
        var firstLoss = double.NaN;
        var lastLoss = double.NaN;
        while (steps < maxSteps && watch.Elapsed.TotalMinutes < minutes)
        {
            for (var b = 0; b < batch; b++)
            {
                int at;
                do at = rng.NextInt(corpus.Length); while (corpus[at] == 0 || rng.NextDouble() > keep[corpus[at]]);
                // The paper's dynamic window: a random size 1..5, a context word inside it.
                var reach = 1 + rng.NextInt(Window);
                int other;
                do other = at + rng.NextInt(2 * reach + 1) - reach; while (other == at || other < 0 || other >= corpus.Length);
                center[b] = corpus[at];
                context[b] = corpus[other];
                for (var k = 0; k < Negatives; k++) noise[b * Negatives + k] = Noise();
            }
            model.SetInput("center", center);
            model.SetInput("context", context);
            model.SetInput("noise", noise);
            model.Forward();
            model.Backward();
            model.Step(optimizer);
            steps++;
            var loss = model.ReadLoss();
            if (steps == 1) firstLoss = loss;
            sum += loss;
            var every = s.Small ? 10 : 100;
            if (steps % every == 0)
            {
                lastLoss = sum / every;
                log.WriteLine($"  step {steps,6}  loss {F(lastLoss, 4)}  ({F(steps * (double)batch / watch.Elapsed.TotalSeconds, 0)} pairs/s)");
                sum = 0;
            }
        }

        var vectors = model.Read("input_vectors");
        var norms = new double[Vocabulary];
        for (var w = 0; w < Vocabulary; w++)
            norms[w] = Math.Sqrt(Enumerable.Range(0, Dimensions).Sum(d => (double)vectors[w * Dimensions + d] * vectors[w * Dimensions + d])) + 1e-12;
        double Cosine(int a, int b)
        {
            var dot = 0.0;
            for (var d = 0; d < Dimensions; d++) dot += (double)vectors[a * Dimensions + d] * vectors[b * Dimensions + d];
            return dot / (norms[a] * norms[b]);
        }
        log.WriteLine($"after {steps} steps ({steps * (long)batch:N0} pairs, {F(watch.Elapsed.TotalSeconds, 0)} s), nearest neighbours by cosine:");
        foreach (var word in new[] { "love", "money", "computer", "god", "woman", "war", "life", "unix", "wine", "monday" })
        {
            if (!ids.TryGetValue(word, out var id)) continue;
            var nearest = Enumerable.Range(1, Vocabulary - 1).Where(w => w != id).OrderByDescending(w => Cosine(id, w)).Take(6);
            log.WriteLine($"  {word,-10} {string.Join(", ", nearest.Select(w => $"{vocabulary[w]} {F(Cosine(id, w), 2)}"))}");
        }
        log.WriteLine($"loss {F(firstLoss, 4)} at the first step, {F(lastLoss, 4)} over the last {(s.Small ? 10 : 100)} reported");
        return new Dictionary<string, double> { ["first_loss"] = firstLoss, ["last_loss"] = lastLoss, ["steps"] = steps };
    }
}
