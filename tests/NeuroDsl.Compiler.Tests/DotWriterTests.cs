using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Emit;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>The architecture drawing: one box per layer, edges along the data flow, clusters for blocks, safe labels.</summary>
public sealed class DotWriterTests
{
    [Fact]
    public void LeNet5_IsAChainOfItsLayers()
    {
        var m = NeuroCompiler.Compile("lenet5.nd", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", "lenet5.nd"))).Models.Single();
        var dot = DotWriter.Write(m.Ir);
        var layers = SummaryWriter.Layers(m.Ir);
        var boxes = Regex.Matches(dot, @"^\s+n\d+ \[", RegexOptions.Multiline).Count;
        Assert.Equal(layers.Count + 2, boxes); // the layers and the two inputs
        var edges = Regex.Matches(dot, @"n(\d+) -> n(\d+);").Select(e => (int.Parse(e.Groups[1].Value), int.Parse(e.Groups[2].Value))).ToList();
        Assert.Equal(layers.Count + 1, edges.Count); // a chain from the image, plus the label into the loss
        Assert.Contains("c3.0\\nconv2d 16 filters\\n[N, 16, 10, 10]\\n2,416 params", dot);
        Assert.Contains("-> out_logits", dot);
    }

    [Fact]
    public void ConvolutionLayers_AreDrawnAsWeightedLayers_WithTheirFiltersAndStride()
    {
        var result = NeuroCompiler.Compile("c.nd", """
            model C {
              input x: f32[N, 3, 8, 8]
              h = x |> conv2d(4, kernel: 3, stride: 2, padding: 1)
              output y = h |> conv_transpose2d(2, kernel: 2, stride: 2, bias: false)
            }
            """);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var dot = DotWriter.Write(result.Models[0].Ir);
        Assert.Contains("fillcolor=\"#dde8f8\", label=\"h\\nconv2d 4 filters, stride 2\\n", dot);
        Assert.Contains("fillcolor=\"#dde8f8\", label=\"y\\nconv_transpose2d 2 filters, stride 2\\n", dot);
    }

    [Fact]
    public void Blocks_AreClustered_AndLabelsAreEscaped()
    {
        var result = NeuroCompiler.Compile("r.nd", """
            block Res(c)(x) {
              y = x |> dense(c) |> relu |> dense(c)
              return relu(y + x)
            }
            model R {
              paper title: "Say \"hi\" \\ bye"
              input x: f32[N, 4]
              output z = x |> repeat 2 { Res(4) }
            }
            """);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var dot = DotWriter.Write(result.Models[0].Ir);
        Assert.Equal(2, Regex.Matches(dot, "subgraph cluster_").Count);
        Assert.Contains("label=\"z.0\"", dot);
        Assert.Contains("R — Say \\\"hi\\\" \\\\ bye", dot);
    }

    [Fact]
    public void Boxes_AreColouredByTheirSurfaceOpsCategory()
    {
        var result = NeuroCompiler.Compile("c.nd", """
            model C {
              input x: f32[N, 1, 8, 8]
              output y = x |> conv2d(2, kernel: 3) |> maxpool(2) |> batchnorm |> flatten |> dense(3) |> tanh
            }
            """);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        var dot = DotWriter.Write(result.Models[0].Ir);
        string Fill(string op) => Regex.Match(dot, $"fillcolor=\"(#[0-9a-f]+)\", label=\"[^\"]*\\\\n{op}[ \\\\]").Groups[1].Value;
        Assert.Equal("#dde8f8", Fill("conv2d"));
        Assert.Equal("#dde8f8", Fill("dense"));
        Assert.Equal("#f8ecd8", Fill("maxpool"));
        Assert.Equal("#f0e4f4", Fill("batchnorm"));
        Assert.Equal("#f4f6fb", Fill("tanh"));
    }
}
