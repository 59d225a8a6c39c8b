using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Reference;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>layer_norm, a composition of primitives, against PyTorch's definition written out directly.</summary>
public sealed class LayerNormTests
{
    [Fact]
    public void LayerNorm_IsPyTorchsLayerNorm_PopulationVarianceAndEpsInsideTheRoot()
    {
        var m = Assert.Single(NeuroCompiler.Compile("ln.nd",
            "model L {\n  input x: f32[N, 2, 6]\n  output y = x |> layer_norm(eps: 0.01)\n}\n").Models);
        var g = m.Ir.Graph;
        var rng = new Random(5);
        var x = Enumerable.Range(0, 3 * 2 * 6).Select(_ => rng.NextDouble() * 4 - 1).ToArray();
        var weight = Enumerable.Range(0, 6).Select(_ => rng.NextDouble() + 0.5).ToArray();
        var bias = Enumerable.Range(0, 6).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var leaves = new Dictionary<int, double[]>
        {
            [g.Inputs.Single().Id] = x,
            [g.Params.Single(p => p.Name == "y.weight").Id] = weight,
            [g.Params.Single(p => p.Name == "y.bias").Id] = bias,
        };
        var y = ReferenceInterpreter.Run(g, new Dictionary<string, long> { ["N"] = 3 }, leaves)[g.Outputs.Single().Value];
        for (var row = 0; row < 6; row++)
        {
            var v = x.Skip(row * 6).Take(6).ToArray();
            var mean = v.Average();
            var variance = v.Sum(e => (e - mean) * (e - mean)) / 6;
            for (var j = 0; j < 6; j++)
                Assert.Equal((v[j] - mean) / Math.Sqrt(variance + 0.01) * weight[j] + bias[j], y[row * 6 + j], 12);
        }
        Assert.Equal(new[] { "y.weight", "y.bias" }, g.Params.Select(p => p.Name));
    }
}
