using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Reference;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>The float64 definition of reads by index where the op cases cannot go: indices outside the table.</summary>
public sealed class GatherTests
{
    private static ModelOutput Compile(string text) => Assert.Single(NeuroCompiler.Compile("g.nd", text).Models);

    [Fact]
    public void Gather_OutOfRangeIndex_GivesNaN_AndSendsNoGradient()
    {
        var m = Compile("model G {\n  input table: f32[4, 2]\n  input ids: i32[N, 3]\n  input r: f32[N, 3, 2]\n"
            + "  output y = gather(table, ids)\n  loss sum(y * r)\n}\n");
        var g = m.Ir.Graph;
        var table = new double[] { 0, 1, 10, 11, 20, 21, 30, 31 };
        var ids = new double[] { 3, -1, 4, 3, 0, 1e9 };
        var r = Enumerable.Range(1, 12).Select(v => (double)v).ToArray();
        var leaves = new Dictionary<int, double[]>
        {
            [g.Inputs.Single(n => n.Name == "table").Id] = table,
            [g.Inputs.Single(n => n.Name == "ids").Id] = ids,
            [g.Inputs.Single(n => n.Name == "r").Id] = r,
        };
        var values = ReferenceInterpreter.Run(g, new Dictionary<string, long> { ["N"] = 2 }, leaves);

        var y = values[g.Outputs.Single(o => o.Key == "y").Value];
        const double nan = double.NaN;
        Assert.Equal(new double[] { 30, 31, nan, nan, nan, nan, 30, 31, 0, 1, nan, nan }, y);
        // Row 3 is picked twice: its gradient is the sum of both dy rows; rows 1 and 2 are picked by no valid index.
        var grad = values[g.Gradients[g.Inputs.Single(n => n.Name == "table").Id]];
        Assert.Equal(new double[] { 9, 10, 0, 0, 0, 0, 1 + 7, 2 + 8 }, grad);
    }

    [Fact]
    public void InputRanges_GiveEachIndexInputTheSmallestLimitOfItsReaders()
    {
        // ids pick rows of a 4-row table and one of 3 classes: 0..2 is what both accept; labels name one of 5 logits;
        // an i32 input nothing picks with, and float inputs, have no range.
        var m = Compile("model R {\n  input table: f32[4, 2]\n  input ids: i32[N]\n  input labels: i32[N]\n"
            + "  input free: i32[N]\n  input x: f32[N, 5]\n  a = gather(table, ids)\n  b = one_hot(ids, 3)\n"
            + "  output y = x\n  output c = free\n  loss mean(a) + mean(b) + cross_entropy(x, labels)\n}\n");
        var ranges = Ir.InputRanges.Of(m.Ir.Graph);
        Assert.Equal(new[] { new Ir.InputRange("ids", 3, "one_hot (line 8)"), new Ir.InputRange("labels", 5, "pick_class (line 11)") }, ranges);
    }

    [Fact]
    public void OneHot_OutOfRangeIndex_GivesARowOfNaN()
    {
        var m = Compile("model H {\n  input ids: i32[N]\n  input x: f32[N, 3]\n  output y = one_hot(ids, 3)\n"
            + "  loss mean(y * x)\n}\n");
        var g = m.Ir.Graph;
        var leaves = new Dictionary<int, double[]>
        {
            [g.Inputs.Single(n => n.Name == "ids").Id] = new double[] { 2, 3, -1, 0 },
            [g.Inputs.Single(n => n.Name == "x").Id] = new double[12],
        };
        var values = ReferenceInterpreter.Run(g, new Dictionary<string, long> { ["N"] = 4 }, leaves);
        const double nan = double.NaN;
        var y = values[g.Outputs.Single(o => o.Key == "y").Value];
        Assert.Equal(new[] { 0, 0, 1, nan, nan, nan, nan, nan, nan, 1, 0, 0 }, y);
    }

    [Fact]
    public void Embedding_IsAGatherOfItsWeight_WithPyTorchsNameAndInit()
    {
        var m = Compile("model E {\n  input ids: i32[N, 5]\n  output y = ids |> embedding(11, 4)\n"
            + "  expect params == 44\n}\n");
        var weight = Assert.Single(m.Ir.Graph.Params);
        Assert.Equal("y.weight", weight.Name);
        Assert.Equal("[11, 4]", weight.Shape.ToString());
        Assert.Equal("normal(0, 1)", weight.Param!.Init.ToString());
        var node = m.Ir.Graph[m.Ir.Graph.Outputs.Single(o => o.Key == "y").Value];
        Assert.Equal(("gather", "embedding", "[N, 5, 4]"), (node.Op, node.Layer, node.Shape.ToString()));
    }
}
