using System;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler.Ops;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// <see cref="Fusion.BiasFolder"/>: which sums become a <c>linear</c> node (the finite-difference and kernel checks of
/// the folded case run with the other op cases).
/// </summary>
public sealed class BiasFolderTests
{
    private static string Path(string folder, string file) => System.IO.Path.Combine(AppContext.BaseDirectory, folder, file);

    [Fact]
    public void Fold_TakesAProductWithTransposedWeightsAndAVector_AndLeavesTheRest()
    {
        var result = NeuroCompiler.Compile("batched_matmul.nd", File.ReadAllText(Path(System.IO.Path.Combine("Cases", "Ops"), "batched_matmul.nd")));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var graph = result.Models.Single(m => m.Name == "OpMatMulBiasFolded").Ir.Graph;
        // y and b + x2·Wᵀ fold; p + b does not (p is read twice).
        Assert.Equal(2, graph.Forward.Count(n => n.Def == MatMul.Linear));
        Assert.Contains(graph.Forward, n => n.Def == Arithmetic.Add && n.Inputs.Any(i => graph[i].Def == MatMul.Product));
    }

    [Fact]
    public void Plan_OfTheTransformerLayer_AddsTheProjectionBiasInTheGemm()
    {
        var result = NeuroCompiler.Compile("transformer_layer.nd", File.ReadAllText(Path("Models", "transformer_layer.nd")));
        var plan = result.Models.Single(m => m.Name == "TransformerEncoderLayer").Plan;
        Assert.DoesNotContain(plan.Forward, l => l.Kernel.EndsWith("_add", StringComparison.Ordinal) && l.Kernel.Contains("q_k_v"));
        var bias = plan.Buffers.Single(b => b.Name == "self_attn.in_proj_bias").Index;
        Assert.Contains(plan.Forward, l => l.Kernel == "nd_gemm_tiled_f32" && l.Args.Any(a => a.Buffer == bias));
    }
}
