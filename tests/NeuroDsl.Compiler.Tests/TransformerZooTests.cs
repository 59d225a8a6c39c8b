using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Semantics;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The Transformer zoo at toy sizes: each model, its paper sizes replaced by small ones (and its expect lines, which
/// hold at the paper sizes, dropped), runs a training-mode forward and backward pass on the float64 reference with
/// finite gradients, and one entry of about ten of them agrees with central differences. The paper sizes themselves are checked by
/// SummaryTests (expect lines and snapshots) and never allocated (GPT-3 is 650 GiB).
/// </summary>
public sealed class TransformerZooTests
{
    public static IEnumerable<object[]> Cases() => new[]
    {
        new object[] { "gpt1.nd", "Gpt1", "vocab = 11, T = 5, d = 8, layers = 2, heads = 2, ff = 16", 11 },
        new object[] { "gpt3.nd", "Gpt3", "vocab = 11, T = 5, d = 8, layers = 2, heads = 2", 11 },
        new object[] { "bert_base.nd", "BertBase", "vocab = 11, T = 5, types = 2, d = 8, heads = 2, ff = 16, layers = 2", 11 },
        new object[] { "bert_base.nd", "BertForPreTraining", "vocab = 11, T = 5, types = 2, d = 8, heads = 2, ff = 16, layers = 2", 11 },
        new object[] { "char_bert.nd", "CharBert", "vocab = 11, T = 5, d = 8, layers = 2, heads = 2, ff = 16", 11 },
        new object[] { "vit_b16.nd", "VitB16", "image = 8, patch = 4, d = 8, layers = 2, heads = 2, hidden = 16, classes = 3", 3 },
        new object[] { "vit_fmnist.nd", "VitFashionMnist", "image = 8, patch = 4, d = 8, layers = 2, heads = 2, hidden = 16, classes = 3", 3 },
        new object[] { "clip_vit_b32.nd", "ClipVitB32", "embed = 4, resolution = 8, patch = 4, vision_width = 8, vision_layers = 1, "
            + "vision_heads = 2, context = 5, vocab = 11, width = 8, layers = 2, heads = 2", 11 },
        new object[] { "clip_fmnist.nd", "ClipFashionMnist", "embed = 4, channels = 2, hidden = 6, context = 5, vocab = 11, width = 8, "
            + "layers = 2, heads = 2", 11 },
        new object[] { "t5_small.nd", "T5Small", "vocab = 11, S = 6, T = 5, d = 8, heads = 2, ff = 16, layers = 2, buckets = 8, max_distance = 6", 11 },
        new object[] { "swin_t.nd", "SwinT", "image = 32, patch = 2, embed = 6, window = 2, shift = 1, classes = 3", 3 },
        new object[] { "transformer.nd", "TransformerBase", "vocab = 11, S = 6, T = 5, d = 8, heads = 2, ff = 16, layers = 2, p = 0.1", 11 },
        new object[] { "multimodel.nd", "MultiModel", "vocab = 11, commands = 11, S = 6, T = 5, d = 8, heads = 2, experts = 4, k = 2, "
            + "hidden = 8, p = 0.4", 11 },
        new object[] { "multimodel.nd", "MultiModelImageNet", "classes = 3, resolution = 32, entry = 2, d = 8, experts = 4, k = 3, hidden = 8, "
            + "p = 0.4, wide = 12, wider = 16", 3 },
    };

    /// <summary>The file's text with one model's header defaults replaced and every expect line dropped.</summary>
    internal static ModelIr CompileSmall(string file, string model, string sizes)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", file));
        var header = new Regex($@"model {model}\([^)]*\)");
        Assert.Matches(header, text);
        text = header.Replace(text, $"model {model}({sizes})", 1);
        text = Regex.Replace(text, @"^\s*expect .*$", "", RegexOptions.Multiline);
        var result = NeuroCompiler.Compile(file, text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single(m => m.Name == model).Ir;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SmallSize_TrainsForwardAndBackward_AndItsGradientsMatchCentralDifferences(string file, string model, string sizes, int tokens)
    {
        var ir = CompileSmall(file, model, sizes);
        var graph = ir.Graph;
        var symbols = new Dictionary<string, long>
        {
            ["N"] = 2, [ReferenceInterpreter.TrainingSymbol] = 1, [ReferenceInterpreter.SeedSymbol] = 5, [ReferenceInterpreter.StepSymbol] = 3,
        };
        var rng = new Random(17);
        var leaves = graph.Inputs.Concat(graph.Params).ToDictionary(l => l.Id, l =>
        {
            var n = ReferenceInterpreter.Numel(l.Shape.Eval(symbols));
            // Token ids below the vocabulary (or class count); token types and sentence labels are 0 or 1; CLIP's
            // end-of-text positions within its context of 5.
            var bound = l.Name switch { "token_type_ids" or "next_sentence_label" => 2, "eot" => 5, _ => tokens };
            return Enumerable.Range(0, (int)n).Select(_ => l.DType == DType.I32 ? rng.Next(bound) : 0.5 * ReferenceOps.Gaussian(rng)).ToArray();
        });
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var lossId = graph.LossId!.Value;
        Assert.True(double.IsFinite(values[lossId][0]), $"{model}: loss {values[lossId][0]}");
        Assert.NotEmpty(graph.Gradients);
        foreach (var (_, gradId) in graph.Gradients) Assert.All(values[gradId], g => Assert.True(double.IsFinite(g)));
        // Central differences at one entry of about 10 of the gradients (every k-th by leaf id): each takes two more
        // passes, and Swin's toy size takes a while.
        var every = Math.Max(1, graph.Gradients.Count / 10);
        foreach (var (leafId, gradId) in graph.Gradients.OrderBy(g => g.Key).Where((_, k) => k % every == 0))
        {
            var leaf = leaves[leafId];
            var analytic = values[gradId];
            foreach (var i in new[] { rng.Next(leaf.Length) })
            {
                var numeric = GradientCheckTests.CentralDifference(graph, symbols, leaves, leafId, i);
                Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-6 + 1e-4 * Math.Abs(numeric),
                    $"{model}: d loss / d {graph[leafId].Name}[{i}] = {analytic[i]} by the backward graph, {numeric} by central differences");
            }
        }
        // The big ones' gradients reach the embedding: the tied output layer and the input both feed it.
        Assert.Contains(graph.Gradients, g => values[g.Value].Any(v => v != 0));
    }
}
