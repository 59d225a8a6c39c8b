using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The sequence models of the zoo too large to allocate in a test (seq2seq.nd, rnnsearch.nd, word2vec.nd,
/// show_attend_tell.nd), at small sizes: the file with its model's default sizes replaced (and its expect lines, which
/// hold the paper's sizes, dropped) compiles, and its backward graph agrees with central differences of its float64
/// reference at a few entries of every gradient.
/// </summary>
public sealed class SequenceModelTests
{
    [Theory]
    [InlineData("seq2seq.nd", "Seq2Seq", "source_vocab = 160_000, target_vocab = 80_000, d = 1_000, hidden = 1_000",
        "source_vocab = 9, target_vocab = 8, d = 5, hidden = 3")]
    [InlineData("rnnsearch.nd", "RNNsearch", "source_vocab = 30_000, target_vocab = 30_000, m = 620, n = 1_000, n_align = 1_000, l = 500",
        "source_vocab = 9, target_vocab = 8, m = 5, n = 3, n_align = 4, l = 2")]
    [InlineData("word2vec.nd", "Word2Vec", "vocab = 10_000, d = 300, k = 5", "vocab = 9, d = 4, k = 3")]
    [InlineData("show_attend_tell.nd", "ShowAttendTell", "vocab = 10_000, locations = 196, features = 512, m = 512, n = 1_000, att = 512",
        "vocab = 8, locations = 3, features = 4, m = 5, n = 3, att = 2")]
    public void AtSmallSizes_BackwardMatchesCentralDifferences(string file, string name, string paper, string small)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", file));
        Assert.Contains(paper, text, StringComparison.Ordinal);
        text = Regex.Replace(text.Replace(paper, small, StringComparison.Ordinal), @"(?m)^\s*expect .*$", "");
        var result = NeuroCompiler.Compile(file, text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var graph = result.Models.Single(m => m.Name == name).Ir.Graph;

        var symbols = new Dictionary<string, long> { ["N"] = 2, ["S"] = 3, ["T"] = 4, [ReferenceInterpreter.TrainingSymbol] = 1 };
        var rng = new Random(3);
        var leaves = graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l =>
            Enumerable.Range(0, (int)ReferenceInterpreter.Numel(l.Shape.Eval(symbols)))
                .Select(_ => l.DType == DType.I32 ? rng.Next(8) : rng.NextDouble() - 0.5).ToArray());
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var lossId = graph.LossId!.Value;
        Assert.True(double.IsFinite(values[lossId][0]));
        Assert.NotEmpty(graph.Gradients);
        foreach (var (leafId, gradId) in graph.Gradients)
        {
            var leaf = leaves[leafId];
            for (var probe = 0; probe < 3; probe++)
            {
                var i = rng.Next(leaf.Length);
                var numeric = GradientCheckTests.CentralDifference(graph, symbols, leaves, leafId, i);
                Assert.True(Math.Abs(numeric - values[gradId][i]) <= 1e-7 + 1e-5 * Math.Abs(numeric),
                    $"{name}: d loss / d {graph[leafId].Name}[{i}] = {values[gradId][i]} by the backward graph, {numeric} by finite differences");
            }
        }
    }
}
