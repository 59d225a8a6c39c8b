using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Reference;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Cases a review of cross_entropy as a composition and of row fusion found (each failed before its fix).</summary>
public sealed class CompositionRegressionTests
{
    private static ModelOutput Compile(string text) => Assert.Single(NeuroCompiler.Compile("r.nd", text).Models);

    [Fact]
    public void CrossEntropy_MaskedLogitOfAnotherClass_GivesAFiniteLoss()
    {
        // A class masked with -inf (not the label): PyTorch and the deleted kernel give log(1 + e) here.
        var m = Compile("model C {\n  input x: f32[N, 3]\n  input labels: i32[N]\n  output l = cross_entropy(x, labels)\n"
            + "  loss l\n}\n");
        var g = m.Ir.Graph;
        var leaves = new Dictionary<int, double[]>
        {
            [g.Inputs.Single(n => n.Name == "x").Id] = new[] { 0.0, 1.0, double.NegativeInfinity },
            [g.Inputs.Single(n => n.Name == "labels").Id] = new[] { 0.0 },
        };
        var values = ReferenceInterpreter.Run(g, new Dictionary<string, long> { ["N"] = 1 }, leaves);
        var loss = values[g.LossId!.Value][0];
        Assert.Equal(System.Math.Log(1 + System.Math.E), loss, 9);
    }

    [Fact]
    public void AnElementwiseValueReadingAnotherHead_BothLoopMemberAndOperand_Compiles()
    {
        var result = NeuroCompiler.Compile("r.nd", "model O {\n  input x: f32[N, 8]\n  input r: f32[N, 8]\n"
            + "  c = max(x, axis: 0, keepdims: true)\n  u = x - c\n  s = sum(u, axis: -1, keepdims: true)\n"
            + "  output y = u * s\n  loss mean(y * r)\n}\n");
        Assert.Empty(result.Diagnostics.Where(d => d.IsError).Select(d => d.ToString()));
    }
}
