using System.Linq;
using NeuroDsl.Compiler.Ir;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>What the language says: blocks, repeat, conditionals, shape queries, naming and spans.</summary>
public sealed class LanguageTests
{
    private static ModelOutput CompileOne(string text)
    {
        var result = NeuroCompiler.Compile("test.nd", text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return Assert.Single(result.Models);
    }

    [Fact]
    public void Blocks_Repeat_AndConditionals_ElaborateWithCheckpointStyleNames()
    {
        var m = CompileOne("""
            block Layer(width, act = 1)(x) {
              h = x |> dense(width)
              return if act == 1 then tanh(h) else h
            }
            block Pair(width)(x) {
              a = x |> Layer(width)
              return a |> Layer(width, act: 0)
            }
            model Stack(width = 8, depth = 3) {
              input x: f32[N, 4]
              trunk = x |> repeat depth { Pair(width) }
              output y = trunk |> dense(2)
              expect params == 4 * 8 + 8 + 5 * (8 * 8 + 8) + 8 * 2 + 2
            }
            """);
        var names = m.Ir.Graph.Params.Select(p => p.Name).ToList();
        Assert.Equal(new[]
        {
            "trunk.0.a.h.weight", "trunk.0.a.h.bias", "trunk.0.h.weight", "trunk.0.h.bias",
            "trunk.1.a.h.weight", "trunk.1.a.h.bias", "trunk.1.h.weight", "trunk.1.h.bias",
            "trunk.2.a.h.weight", "trunk.2.a.h.bias", "trunk.2.h.weight", "trunk.2.h.bias",
            "y.weight", "y.bias",
        }, names);
        // act: 0 drops the tanh: 3 tanh nodes, one per Pair.
        Assert.Equal(3, m.Ir.Graph.Forward.Count(n => n.Op == "tanh"));
    }

    [Fact]
    public void ShapeQueries_AreConstants()
    {
        var m = CompileOne("""
            model Q {
              input x: f32[N, 3, 5]
              output y = x |> flatten |> dense(x.channels * x.features + x.rank + x.shape[1])
              expect y: [N, 21]
            }
            """);
        Assert.Equal(new Shape(new[] { Dim.Symbol("N"), (Dim)21 }), m.Ir.Graph[m.Ir.Graph.Outputs[0].Value].Shape);
    }

    [Fact]
    public void Spans_PointAtTheExactToken()
    {
        var result = NeuroCompiler.Compile("s.nd", "model M {\n  input x: f32[N, 2]\n  output y = x |> dense(2) |> softmaxx\n}\n");
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(("ND0102", 3, 31, 8), (d.Id, d.Span.Line, d.Span.Column, d.Span.Length));
        Assert.Equal("did you mean 'softmax'?", d.Note);
    }

    [Fact]
    public void Numbers_WithSeparatorsAndExponents_Parse()
    {
        var m = CompileOne("""
            model M {
              input x: f32[N, 1_0]
              output y = x |> dense(1, init: normal(0, 1e-2))
              expect params == 1_1
            }
            """);
        Assert.Equal(11, m.Ir.Graph.TrainableParameterCount);
        Assert.Equal(0.01, m.Ir.Graph.Params.First().Param!.Init.B, 12);
    }

    [Fact]
    public void SeveralModels_ShareBlocks_AndEachGetsItsOwnClass()
    {
        var result = NeuroCompiler.Compile("two.nd", """
            block Mlp(w)(x) { return x |> dense(w) |> relu }
            model A { input x: f32[N, 2]  output y = x |> Mlp(3) }
            model B { input x: f32[N, 2]  output y = x |> Mlp(4) |> Mlp(1) }
            """);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Equal(new[] { "A", "B" }, result.Models.Select(m => m.Name));
        Assert.Equal(new[] { "y.0.weight", "y.0.bias", "y.1.weight", "y.1.bias" }, result.Models[1].Ir.Graph.Params.Select(p => p.Name));
        Assert.Contains("public sealed partial class B ", result.Models[1].CSharp);
    }

    [Fact]
    public void Backward_SkipsInputGradients_UnlessAsked()
    {
        var m = CompileOne("""
            model M {
              input x: f32[N, 3]
              input t: f32[N, 2]
              output y = x |> dense(2)
              loss mse(y, t)
            }
            """);
        Assert.Contains(m.Plan.Backward, l => l.InputGradientOnly);
        Assert.Contains("if (ComputeInputGradients)", m.CSharp);
        Assert.Equal("grad.x", Assert.Single(m.Plan.InputGradients).Name);
    }
}
