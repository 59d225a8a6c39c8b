using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler.Ops;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The attention rewrite (<see cref="Fusion.AttentionFuser"/>): where it applies and where it must not, and the fused
/// graph against the graph as written on the float64 reference — every output and every gradient, on fresh random
/// inputs. (The finite-difference check of the fused ops runs with the other op cases in GradientCheckTests, and the
/// OpenCL kernels against the reference in the runtime's KernelTests.)
/// </summary>
public sealed class FusedAttentionTests
{
    private static IReadOnlyList<ModelOutput> Compile(string path, bool fuse)
    {
        var result = NeuroCompiler.Compile(Path.GetFileName(path), File.ReadAllText(path), options: new CompileOptions(fuse));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models;
    }

    private static string OpCases => Path.Combine(AppContext.BaseDirectory, "Cases", "Ops", "attention.nd");

    private static string Model(string stem) => Path.Combine(AppContext.BaseDirectory, "Models", stem + ".nd");

    private static int Sites(ModelOutput m) => m.Ir.Graph.Nodes.Count(n => n.Def == Attention.Forward);

    [Theory]
    [InlineData("OpAttentionCausal", 1)]
    [InlineData("OpAttentionFull", 1)]
    [InlineData("OpAttentionLongMasked", 1)]
    [InlineData("OpAttentionLongCausal", 1)]
    [InlineData("OpAttentionCross", 1)]
    [InlineData("OpAttentionOddCausal", 1)]
    [InlineData("OpAttentionHeadsInPlace", 1)]
    [InlineData("OpAttentionWeightsOut", 0)]
    [InlineData("OpAttentionDropout", 0)]
    public void Fuser_FusesThePattern_AndKeepsWeightsThatAreReadElsewhere(string name, int sites)
    {
        var model = Compile(OpCases, true).Single(m => m.Name == name);
        Assert.Equal(sites, Sites(model));
        // Where it fused, no planned buffer holds a score: nothing of the fused plan has the scores' shape, but the
        // gradient of a mask that varies along the queries and keys, which is as large by definition.
        foreach (var (_, scores) in model.Plan.FusedAttention)
            if (name != "OpAttentionCross")
                Assert.DoesNotContain(model.Plan.Buffers, b => b.Elements == scores.Numel);
        Assert.Equal(0, Compile(OpCases, false).Sum(Sites));
    }

    [Theory]
    [InlineData("transformer_layer", 2)]
    [InlineData("gpt2_small", 1)]
    [InlineData("bert_base", 2)]
    [InlineData("vit_b16", 1)]
    [InlineData("t5_small", 1)]
    [InlineData("show_attend_tell", 0)]
    public void Fuser_FindsTheZoosAttention_ButNotALearnedBiasOrAnOutputOfWeights(string stem, int models)
    {
        // T5's self-attention adds a learned relative-position bias (it needs the scores' gradient): kept as written;
        // its decoder's cross-attention has none and is fused. Show, Attend and Tell's weights are an output.
        var compiled = Compile(Model(stem), true);
        Assert.Equal(models, compiled.Count(m => Sites(m) > 0));
        if (stem == "t5_small")
            Assert.All(compiled, m => Assert.Contains(m.Ir.Graph.Forward, n => n.Def == Softmax.Forward));
    }

    [Theory]
    [InlineData("OpAttentionCausal")]
    [InlineData("OpAttentionFull")]
    [InlineData("OpAttentionLongMasked")]
    [InlineData("OpAttentionLongCausal")]
    [InlineData("OpAttentionCross")]
    [InlineData("OpAttentionOddCausal")]
    [InlineData("OpAttentionHeadsInPlace")]
    public void Fused_EqualsUnfused_OnTheReference(string name)
    {
        var fused = Compile(OpCases, true).Single(m => m.Name == name).Ir;
        var plain = Compile(OpCases, false).Single(m => m.Name == name).Ir;
        Assert.True(Sites(Compile(OpCases, true).Single(m => m.Name == name)) > 0);
        var symbols = new Dictionary<string, long> { ["N"] = 2 };
        for (var seed = 0; seed < 3; seed++)
        {
            var rng = new Random(500 + seed);
            // The rewrite keeps node ids: the same leaves feed both graphs.
            var leaves = plain.Graph.Inputs.Concat(plain.Graph.Params)
                .ToDictionary(l => l.Id, l => ReferenceOps.RandomLeaf(plain, l, symbols, rng));
            var a = ReferenceInterpreter.Run(fused.Graph, symbols, leaves);
            var b = ReferenceInterpreter.Run(plain.Graph, symbols, leaves);
            foreach (var (output, id) in plain.Graph.Outputs)
                Close(a[fused.Graph.Outputs.Single(o => o.Key == output).Value], b[id], output);
            Close(a[fused.Graph.LossId!.Value], b[plain.Graph.LossId!.Value], "loss");
            // Every gradient, a mask read from an input's included (the fused form computes it as the form as written).
            Assert.Equal(plain.Graph.Gradients.Keys.Order(), fused.Graph.Gradients.Keys.Order());
            foreach (var (leaf, grad) in plain.Graph.Gradients)
                Close(a[fused.Graph.Gradients[leaf]], b[grad], "grad." + plain.Graph[leaf].Name);
        }
    }

    private static void Close(double[] actual, double[] expected, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-10 + 1e-9 * Math.Abs(expected[i]),
                $"{what}[{i}]: fused {actual[i]}, as written {expected[i]}");
    }

    [Theory]
    [InlineData("OpAttentionCausal", 2, true)]
    [InlineData("OpAttentionFull", 3, true)]
    [InlineData("OpAttentionHeadsInPlace", 2, false)]
    [InlineData("OpAttentionLongMasked", 0, false)]
    public void Fuser_ReadsAHeadSplitInPlace_AndNoPermuteRuns(string name, long heads, bool packed)
    {
        // Packed: q, k and v are the three parts of split(qkv, 3), read where they lie, with one gradient kernel.
        var model = Compile(OpCases, true).Single(m => m.Name == name);
        var node = Assert.Single(model.Ir.Graph.Nodes, n => n.Def == Attention.Forward);
        Assert.Equal(heads, Attention.Heads(node));
        Assert.Equal(packed, Attention.Columns(node) is not null);
        var launches = model.Plan.Forward.Concat(model.Plan.Backward).ToList();
        if (heads > 0) Assert.DoesNotContain(launches, l => l.Kernel.Contains("permute"));
        if (packed) Assert.DoesNotContain(launches, l => l.Kernel.Contains("strided_slice"));
        Assert.Equal(packed ? 1 : 0, launches.Count(l => l.Kernel.EndsWith("attention_grad_qkv", StringComparison.Ordinal)));
    }

    [Fact]
    public void Plan_OfTheTransformerLayer_SplitsAndMergesHeadsWithoutCopies()
    {
        // Before: 18 forward and 41 backward launches: 8 permutes of the head split and merge, the split into q, k and v
        // and its gradient's concatenation, three gradient kernels (now one), and the projection's bias (now in its
        // GEMM: BiasFolderTests); 33 since linear1's ReLU gradient is the store of linear2's input-gradient product.
        var model = Compile(Model("transformer_layer"), true).Single(m => m.Name == "TransformerEncoderLayer");
        Assert.DoesNotContain(model.Plan.Forward.Concat(model.Plan.Backward), l => l.Kernel.Contains("permute"));
        Assert.Equal(12, model.Plan.Forward.Count);
        Assert.Equal(33, model.Plan.Backward.Count);
    }

    [Fact]
    public void Plan_OfALongCausalLayer_StoresNoScores_AndIsSmaller()
    {
        var fused = Compile(Model("transformer_layer"), true).Single(m => m.Name == "TransformerEncoderLayerCausal");
        var plain = Compile(Model("transformer_layer"), false).Single(m => m.Name == "TransformerEncoderLayerCausal");
        var scores = Assert.Single(fused.Plan.FusedAttention).Scores;
        Assert.Equal("[N, 4, 128, 128]", scores.ToString());
        Assert.Contains(plain.Plan.Buffers, b => b.Elements == scores.Numel);
        Assert.DoesNotContain(fused.Plan.Buffers, b => b.Elements == scores.Numel);
        var symbols = new Dictionary<string, long> { ["N"] = 8 };
        Assert.True(BufferPlanner.Elements(fused.Plan, symbols).Planned < BufferPlanner.Elements(plain.Plan, symbols).Planned);
        Assert.Contains("never stored", Emit.PlanPrinter.Print(fused.Plan, "transformer_layer.nd"), StringComparison.Ordinal);
    }
}
