using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// multimodel.nd's mechanisms on the float64 reference at a toy size: the mixture of experts' gates are exactly a
/// softmax over each position's k largest gating logits (the top-k written from max, comparisons and where), and the
/// mixer and decoder are autoregressive (left-padded convolutions, causal attention): a target token changes no
/// prediction at or before its own position.
/// </summary>
public sealed class MultiModelTests
{
    private const int K = 2, Experts = 4, T = 5;

    private static (Graph Graph, Dictionary<int, double[]> Leaves, Dictionary<string, long> Symbols) Toy()
    {
        var ir = TransformerZooTests.CompileSmall("multimodel.nd", "MultiModel",
            $"vocab = 11, commands = 3, S = 6, T = {T}, d = 8, heads = 2, experts = {Experts}, k = {K}, hidden = 8, p = 0.4");
        var symbols = new Dictionary<string, long> { ["N"] = 2 };
        var rng = new Random(23);
        var leaves = ir.Graph.Inputs.Concat(ir.Graph.Params).ToDictionary(l => l.Id, l =>
        {
            var n = ReferenceInterpreter.Numel(l.Shape.Eval(symbols));
            var bound = l.Name == "command" ? 3 : 11;
            return Enumerable.Range(0, (int)n).Select(_ => l.DType == DType.I32 ? rng.Next(bound) : 0.5 * ReferenceOps.Gaussian(rng)).ToArray();
        });
        return (ir.Graph, leaves, symbols);
    }

    private static Node Named(Graph graph, string suffix, string op) =>
        graph.Forward.Single(n => (n.Layer ?? n.Op) == op && n.Name.EndsWith(suffix, StringComparison.Ordinal));

    [Theory]
    [InlineData("encoder_encoder_aux.moe_aux")]
    [InlineData("decoder_decoder_aux.moe_aux")]
    public void Gates_AreASoftmaxOverTheTopKLogits_AndZeroElsewhere(string layer)
    {
        var (graph, leaves, symbols) = Toy();
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        var logits = values[Named(graph, layer + ".logits", "matmul").Id];
        var gates = values[Named(graph, layer + ".gates", "softmax").Id];
        Assert.Equal(logits.Length, gates.Length);
        for (var row = 0; row < logits.Length / Experts; row++)
        {
            var l = logits.Skip(row * Experts).Take(Experts).ToArray();
            var g = gates.Skip(row * Experts).Take(Experts).ToArray();
            var top = Enumerable.Range(0, Experts).OrderByDescending(e => l[e]).Take(K).ToHashSet();
            var z = top.Sum(e => Math.Exp(l[e]));
            for (var e = 0; e < Experts; e++)
            {
                var expected = top.Contains(e) ? Math.Exp(l[e]) / z : 0;
                Assert.True(Math.Abs(g[e] - expected) < 1e-12, $"row {row}, expert {e}: gate {g[e]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void Predictions_DependOnlyOnEarlierTargets()
    {
        var (graph, leaves, symbols) = Toy();
        var targets = graph.Inputs.Single(i => i.Name == "targets").Id;
        var logitsId = graph.Outputs.Single(o => o.Key == "logits").Value;
        var before = ReferenceInterpreter.Run(graph, symbols, leaves)[logitsId];
        const int changed = 2;
        var edited = (double[])leaves[targets].Clone();
        edited[changed] = (edited[changed] + 1) % 11;                           // example 0, position 2
        var after = ReferenceInterpreter.Run(graph, symbols, new Dictionary<int, double[]>(leaves) { [targets] = edited })[logitsId];
        var vocab = before.Length / (2 * T);
        for (var t = 0; t < T; t++)
        {
            var differs = Enumerable.Range(t * vocab, vocab).Any(i => Math.Abs(before[i] - after[i]) > 1e-12);
            // The decoder reads the targets shifted right: position t sees targets 0 … t − 1.
            Assert.True(differs == t > changed, $"position {t}: {(differs ? "changed" : "unchanged")}");
        }
        // Example 1 is untouched.
        Assert.Equal(before.Skip(T * vocab), after.Skip(T * vocab));
    }
}
