using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Compiler.Syntax;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Slicing, split with destructuring, flip, declared parameters and constant tensors: parsing and binding.</summary>
public sealed class SlicingLanguageTests
{
    private static ModelOutput CompileOne(string text)
    {
        var result = NeuroCompiler.Compile("test.nd", text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return Assert.Single(result.Models);
    }

    private static Shape ShapeOf(ModelOutput m, string output) =>
        m.Ir.Graph[m.Ir.Graph.Outputs.Single(o => o.Key == output).Value].Shape;

    [Fact]
    public void Slices_ParseWithSpans_ForEveryForm()
    {
        var bag = new DiagnosticBag();
        var file = Parser.ParseFile("s.nd", "model M {\n  input x: f32[N, 8]\n  output y = x[..., 1:-1:2, :, ::3, 4:, :5, 0]\n}\n", bag)!;
        Assert.Empty(bag.Items);
        var let = (LetStmt)file.Decls[0].Body[1];
        var index = Assert.IsType<IndexExpr>(let.Value);
        Assert.IsType<EllipsisExpr>(index.Indices[0]);
        var s = Assert.IsType<SliceExpr>(index.Indices[1]);
        Assert.Equal((1.0, 3, 21, 6), (((NumberExpr)s.Start!).Value, s.Span.Line, s.Span.Column, s.Span.Length));
        Assert.IsType<UnaryExpr>(s.Stop);
        var whole = Assert.IsType<SliceExpr>(index.Indices[2]);
        Assert.True(whole.Start is null && whole.Stop is null && whole.Step is null);
        var stepOnly = Assert.IsType<SliceExpr>(index.Indices[3]);
        Assert.True(stepOnly.Start is null && stepOnly.Stop is null && stepOnly.Step is NumberExpr { Value: 3 });
        Assert.True(index.Indices[4] is SliceExpr { Start: NumberExpr, Stop: null, Step: null });
        Assert.True(index.Indices[5] is SliceExpr { Start: null, Stop: NumberExpr, Step: null });
        Assert.IsType<NumberExpr>(index.Indices[6]);
    }

    [Fact]
    public void Indexing_DropsAxes_SlicesKeepThem_AndShapeListsStillIndex()
    {
        var m = CompileOne("""
            model M {
              input x: f32[N, 6, 9]
              output a = x[:, 2]
              output b = x[..., 1:-1]
              output c = x[:, ::2, 3:8:2]
              output d = x[:, -1, -1]
              output e = x |> dense(x.shape[2] + x.shape[-2])
              output f = x[:, :, :]
            }
            """);
        Assert.Equal("[N, 9]", ShapeOf(m, "a").ToString());
        Assert.Equal("[N, 6, 7]", ShapeOf(m, "b").ToString());
        Assert.Equal("[N, 3, 3]", ShapeOf(m, "c").ToString());
        Assert.Equal("[N]", ShapeOf(m, "d").ToString());
        Assert.Equal("[N, 6, 15]", ShapeOf(m, "e").ToString());
        // A whole-tensor slice is the tensor itself: no copy.
        Assert.Equal(m.Ir.Graph.Inputs.Single().Id, m.Ir.Graph.Outputs.Single(o => o.Key == "f").Value);
        var c = m.Ir.Graph.Forward.Single(n => n.Name == "c");
        Assert.Equal(new long[] { 0, 0, 3 }, c.AttrInts("begin"));
        Assert.Equal(new long[] { 1, 2, 2 }, c.AttrInts("step"));
        Assert.Equal("slice", m.Ir.Graph.Forward.Single(n => n.Name == "a").Layer);
    }

    [Fact]
    public void Split_Destructures_IntoNamedParts()
    {
        var m = CompileOne("""
            model Lstmish {
              input x: f32[N, 4]
              i, f, g, o = split(x |> dense(12), 4, axis: -1)
              a, b = split(x, [1, 3], axis: 1)
              parts = split(x, 2)
              output y = sigmoid(i) * tanh(g) + f * o + b
              output z = parts[1] * b[:, 0:2] + a
            }
            """);
        var graph = m.Ir.Graph;
        Assert.Equal(new[] { "i", "f", "g", "o" }, graph.Forward.Where(n => n.Layer == "split").Take(4).Select(n => n.Name));
        Assert.Equal(new[] { "i_f_g_o.weight", "i_f_g_o.bias" }, graph.Params.Select(p => p.Name));
        Assert.Equal("i_f_g_o.0", graph.Forward.Single(n => n.Op == "linear").Name);
        Assert.Contains(graph.Forward, n => n.Name == "parts.1" && n.Shape.ToString() == "[N, 2]");
        Assert.Equal("[N, 3]", graph.Forward.Single(n => n.Name == "b").Shape.ToString());
    }

    [Fact]
    public void DeclaredParams_AreNamedLikeLayerParams_AndHaveTheirOwnSummaryRow()
    {
        var m = CompileOne("""
            block Cell(width)(x) {
              param U: f32[width, width]
              param bias: f32[width] init: zeros
              return tanh(x @ U + bias)
            }
            model M {
              input x: f32[N, 3]
              param pos: f32[1, 3] init: normal(0, 0.02)
              e = x + pos
              h = e |> Cell(3) |> Cell(3)
              output y = h |> Cell(3)
              expect params == 3 + 3 * (9 + 3)
            }
            """);
        var graph = m.Ir.Graph;
        Assert.Equal(new[] { "pos", "h.0.U", "h.0.bias", "h.1.U", "h.1.bias", "y.U", "y.bias" }, graph.Params.Select(p => p.Name));
        var u = graph.Params.Single(p => p.Name == "h.0.U").Param!;
        Assert.Equal(("glorot_uniform", 3L, 3L), (u.Init.Kind, u.FanIn, u.FanOut));
        Assert.Equal("normal(0, 0.02)", graph.Params.First().Param!.Init.ToString());

        var rows = SummaryWriter.Layers(m.Ir);
        var pos = rows.Single(r => r.Name == "pos");
        Assert.Equal(("param", 3L), (pos.Op, pos.Params));
        Assert.Equal(graph.TrainableParameterCount, rows.Sum(r => r.Params));
        Assert.Equal(graph.Params.Select(p => p.Name).OrderBy(n => n), rows.SelectMany(r => r.ParamShapes.Select(p => p.Name)).OrderBy(n => n));
        Assert.Contains("label=\"param pos\\nf32[1, 3]\"", DotWriter.Write(m.Ir));
    }

    [Fact]
    public void ConstantTensors_HoldIotaSinusoidsAndTheCausalMask()
    {
        var m = CompileOne("""
            model C {
              input x: f32[N, 4]
              output a = x + iota(4)
              output p = x + sinusoidal(3, 4)[1]
              output m = causal_mask(3) * 2
              output z = causal_mask(3, additive: true)[1] + x[:, 0:3]
            }
            """);
        var graph = m.Ir.Graph;
        var symbols = new Dictionary<string, long> { ["N"] = 1 };
        var leaves = new Dictionary<int, double[]> { [graph.Inputs.Single().Id] = new double[4] };
        var values = ReferenceInterpreter.Run(graph, symbols, leaves);
        double[] Out(string name) => values[graph.Outputs.Single(o => o.Key == name).Value];
        Assert.Equal(new double[] { 0, 1, 2, 3 }, Out("a"));
        // Position 1 of a 4-wide table: sin(1), cos(1), sin(1/100), cos(1/100).
        Assert.Equal(new[] { Math.Sin(1), Math.Cos(1), Math.Sin(0.01), Math.Cos(0.01) }, Out("p").Select(v => Math.Round(v, 12)), new Tolerance());
        Assert.Equal(new double[] { 1, 0, 0, 1, 1, 0, 1, 1, 1 }, values[graph.Forward.Single(n => n.Op == "causal_mask" && !n.AttrBool("additive")).Id]);
        Assert.Equal(new[] { 0, 0, double.NegativeInfinity }, Out("z"));
        Assert.Equal(new[] { "iota", "sinusoidal", "causal_mask" }, graph.Forward.Where(n => n.Inputs.Count == 0 && n.Kind == NodeKind.Op).Select(n => n.Layer).Distinct());
    }

    [Fact]
    public void Flip_ReversesTheGivenAxes()
    {
        var m = CompileOne("""
            model F {
              input x: f32[N, 2, 3]
              output y = flip(x, axis: [-1, 1])
            }
            """);
        var graph = m.Ir.Graph;
        var x = Enumerable.Range(0, 6).Select(v => (double)v).ToArray();
        var values = ReferenceInterpreter.Run(graph, new Dictionary<string, long> { ["N"] = 1 }, new Dictionary<int, double[]> { [graph.Inputs.Single().Id] = x });
        Assert.Equal(new double[] { 5, 4, 3, 2, 1, 0 }, values[graph.Outputs.Single().Value]);
        Assert.Equal(new long[] { 1, 2 }, graph.Forward.Single(n => n.Op == "flip").AttrInts("axes"));
    }

    [Fact]
    public void Param_IsAKeyword()
    {
        var result = NeuroCompiler.Compile("k.nd", "model M {\n  input x: f32[N, 2]\n  param = x\n  output y = x\n}\n");
        Assert.Equal(("ND0001", 3, 9), result.Diagnostics.Select(d => (d.Id, d.Span.Line, d.Span.Column)).Single());
    }

    private sealed class Tolerance : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-9;

        public int GetHashCode(double v) => 0;
    }
}
