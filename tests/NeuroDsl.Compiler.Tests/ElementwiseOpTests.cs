using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Ops;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// What the finite-difference and kernel checks of tests/Shared/Ops/elementwise.nd cannot show: the float64
/// references against known values, tie and stop-gradient semantics, and what the comparison operators build.
/// </summary>
public sealed class ElementwiseOpTests
{
    private static ModelOutput CompileOne(string text)
    {
        var result = NeuroCompiler.Compile("test.nd", text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return Assert.Single(result.Models);
    }

    // erf of the double nearest each x, by mpmath at 50 digits.
    [Theory]
    [InlineData(1e-10, 1.1283791670955126e-10)]
    [InlineData(0.01, 0.011283415555849618)]
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1, 0.8427007929497149)]
    [InlineData(1.5, 0.9661051464753108)]
    [InlineData(2, 0.9953222650189527)]
    [InlineData(2.4, 0.999311486103355)]
    [InlineData(2.5, 0.999593047982555)]
    [InlineData(2.6, 0.9997639655834707)]
    [InlineData(3, 0.9999779095030014)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(4, 0.9999999845827421)]
    [InlineData(5, 0.9999999999984626)]
    [InlineData(6, 1.0)]
    [InlineData(-0.75, -0.7111556336535151)]
    [InlineData(-3, -0.9999779095030014)]
    public void Erf_MatchesKnownValues_Within1e14(double x, double expected)
    {
        var actual = SpecialFunctions.Erf(x);
        // Relative, so the tiny values are held to it too; |erf| ≤ 1 makes it an absolute bound as well.
        Assert.True(Math.Abs(actual - expected) <= 1e-14 * Math.Abs(expected),
            $"erf({x}) = {actual:R}, expected {expected:R}");
    }

    [Fact]
    public void Erf_IsOdd_AndSaturates()
    {
        for (var x = -4.0; x <= 4.0; x += 0.125) Assert.Equal(-SpecialFunctions.Erf(x), SpecialFunctions.Erf(-x));
        Assert.Equal(0.0, SpecialFunctions.Erf(0));
        Assert.Equal(1.0, SpecialFunctions.Erf(double.PositiveInfinity));
        Assert.Equal(-1.0, SpecialFunctions.Erf(-40));
        Assert.True(double.IsNaN(SpecialFunctions.Erf(double.NaN)));
    }

    [Fact]
    public void Softplus_IsStable_ForLargeInputsOfEitherSign()
    {
        double Softplus(double x, double beta = 1) => SmoothActivations.Softplus.Eval(new[] { x, beta }, 1);
        Assert.Equal(1000.0, Softplus(1000));
        Assert.True(Math.Abs(Softplus(-50) / 1.9287498479639178e-22 - 1) < 1e-14); // log(1 + e^−50), not rounded to 0
        Assert.Equal(0.0, Softplus(-1000));
        Assert.Equal(Math.Log(2) / 2.5, Softplus(0, 2.5), 15);
        Assert.True(Math.Abs(SpecialFunctions.Log1p(1e-10) / 9.9999999995e-11 - 1) < 1e-15);
        Assert.True(Math.Abs(SpecialFunctions.Expm1(-1e-10) / -9.9999999995e-11 - 1) < 1e-15);
        Assert.Equal(Math.E - 1, SpecialFunctions.Expm1(1), 15);
    }

    [Fact]
    public void MaximumAndMinimum_SplitATiedGradientEvenly_AndPropagateNaN()
    {
        // dL/dy = r / numel = 1 for one element: each side of a tie gets one half, as PyTorch's maximum.
        var m = CompileOne("""
            model T {
              input a: f32[1]
              input b: f32[1]
              output y = maximum(a, b) + minimum(a, b)
              loss mean(y)
            }
            """);
        var graph = m.Ir.Graph;
        var (a, b) = (graph.Inputs.First(), graph.Inputs.Last());
        var leaves = new Dictionary<int, double[]> { [a.Id] = new[] { 2.0 }, [b.Id] = new[] { 2.0 } };
        var values = ReferenceInterpreter.Run(graph, new Dictionary<string, long>(), leaves);
        Assert.Equal(1.0, values[graph.Gradients[a.Id]][0]); // ½ from maximum, ½ from minimum
        Assert.Equal(1.0, values[graph.Gradients[b.Id]][0]);
        Assert.Equal(0.5, Clamping.MaximumGrad.Eval(new[] { 2.0, 2.0, 1.0 }, 1));
        Assert.Equal(0.0, Clamping.MaximumGrad.Eval(new[] { 1.0, 2.0, 1.0 }, 1));
        Assert.True(double.IsNaN(Clamping.Maximum.Eval(new[] { double.NaN, 1.0 }, 1)));
        Assert.True(double.IsNaN(Clamping.Minimum.Eval(new[] { 1.0, double.NaN }, 1)));
        Assert.Contains("isnan(a)", Clamping.Maximum.CExpr);
    }

    [Fact]
    public void StopGradient_IsTheIdentity_AndPassesNoGradient()
    {
        // y = a · stop_gradient(a): dy/da is stop_gradient(a) = a, not 2a; b behind stop_gradient gets no gradient.
        var m = CompileOne("""
            model S {
              input a: f32[3]
              input b: f32[3]
              output y = a * stop_gradient(a) + stop_gradient(b)
              loss mean(y)
            }
            """);
        var graph = m.Ir.Graph;
        var (a, b) = (graph.Inputs.First(), graph.Inputs.Last());
        Assert.False(graph.Gradients.ContainsKey(b.Id));
        var leaves = new Dictionary<int, double[]>
        {
            [a.Id] = new[] { 1.0, -2.0, 3.0 },
            [b.Id] = new[] { 5.0, 6.0, 7.0 },
        };
        var values = ReferenceInterpreter.Run(graph, new Dictionary<string, long>(), leaves);
        var grad = values[graph.Gradients[a.Id]];
        Assert.Equal(new[] { 1.0 / 3, -2.0 / 3, 3.0 / 3 }, grad, (x, y) => Math.Abs(x - y) < 1e-12);
        Assert.Equal(new[] { 6.0, 10.0, 16.0 }, values[graph.Outputs.Single(o => o.Key == "y").Value]);
    }

    [Fact]
    public void ComparisonsOnTensors_MakeF32Masks_AndNumbersStayConstants()
    {
        var m = CompileOne("""
            model M(k = 2) {
              input x: f32[N, 5]
              input w: f32[5]
              mask = (x > 0 and not (w == 1)) or x <= -k
              output y = if k >= 2 and k != 3 then where(mask, x, 0) else x
            }
            """);
        var graph = m.Ir.Graph;
        Assert.Equal(new[] { "gt", "eq", "logical_not", "logical_and", "le", "logical_or", "where" },
            graph.Nodes.Where(n => n.Kind == NodeKind.Op).Select(n => n.Op));
        Assert.All(graph.Nodes.Where(n => n.Kind == NodeKind.Op), n => Assert.Equal(DType.F32, n.DType));
        Assert.Equal(new Shape(new Dim[] { Dim.Symbol("N"), 5 }), graph.Nodes.Single(n => n.Op == "logical_and").Shape);
    }

    [Fact]
    public void ClampAndMasks_RideInAConvolutionsVectorEpilogue()
    {
        var ops = ReferenceOps.Compile();
        var clamp = ops.Single(m => m.Name == "OpEwConvClamp");
        Assert.Contains("// Fused: conv2d -> clamp", clamp.KernelSource);
        Assert.Contains("vstore8(t", clamp.KernelSource);
        Assert.Contains("// Fused: conv2d -> abs -> gt", ops.Single(m => m.Name == "OpEwConvMask").KernelSource);
    }

    [Fact]
    public void GeluWithTheTanhApproximation_IsItsOwnPrimitive_InTheGeluLayer()
    {
        var m = CompileOne("model G {\n  input x: f32[N, 3]\n  output y = gelu(x, approximate: \"tanh\") + gelu(x)\n}");
        var ops = m.Ir.Graph.Nodes.Where(n => n.Op.StartsWith("gelu", StringComparison.Ordinal)).ToList();
        Assert.Equal(new[] { "gelu_tanh", "gelu" }, ops.Select(n => n.Op));
        Assert.All(ops, n => Assert.Equal("gelu", n.Layer));
    }
}
