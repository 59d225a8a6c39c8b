using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Compiler.Ir;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// The convolution and pooling kernels carry a GPU form under <c>#if ND_GPU</c> (one output element per work-item, or a
/// work-group per weight for the weight gradient) and their launches its size; the runtime tests run both forms
/// against the reference.
/// </summary>
public sealed class GpuShapeLoweringTests
{
    // Every family: many channels (direct, strided gather for dx), few channels (rows, with and without a padded copy),
    // a wide filter (the weight gradient's general kernel), 2×2 pools, tiling and overlapping windows.
    private const string Source = @"model S {
  input x: f32[N, 3, 16, 16]
  a = x |> conv2d(16, kernel: 3, padding: 1) |> relu
  b = a |> conv2d(4, kernel: 3, padding: 1) |> tanh
  c = b |> conv2d(8, kernel: 3, stride: 2)
  d = c |> maxpool(3, stride: 2)
  e = b |> avgpool(2)
  f = e |> conv2d(4, kernel: [1, 13], padding: [0, 6])
  output y = (d |> flatten |> sum) + (f |> flatten |> sum) + (e |> maxpool(2) |> flatten |> sum)
  loss mean(y)
}
";

    private static readonly string[] Shaped = { "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "pool2d", "pool2d_grad" };

    private static ModelOutput Compile()
    {
        var result = NeuroCompiler.Compile("s.nd", Source);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single();
    }

    [Fact]
    public void ConvolutionAndPoolingLaunches_HaveAGpuForm_OneWorkItemPerOutputElement()
    {
        var m = Compile();
        var graph = m.Ir.Graph;
        var launches = m.Plan.Forward.Concat(m.Plan.Backward).ToList();
        var shaped = launches.Where(l => l.Gpu is not null).ToList();
        // Each op of the families, forward and backward, has its main launch shaped. Packs and pads have one form, launched
        // alike in both shapes; the window kernels that already compute one element per work-item (overlapping pools,
        // their gradient) have one form too, launched in GPU shapes as the GPU forms are.
        foreach (var op in Shaped)
            Assert.Contains(shaped, l => l.Nodes.Any(id => graph[id].Op == op));
        foreach (var l in launches.Where(l => l.Nodes.Any(id => Shaped.Contains(graph[id].Op))))
            Assert.True(l.Gpu is not null || l.Kernel.EndsWith("_pack") || l.Kernel.EndsWith("_pad")
                || (l.Tile is null && l.Global.Count == 1 && l.Global[0] == graph[l.Nodes[0]].Shape.Numel), l.Kernel + " has no GPU form");
        foreach (var l in shaped)
        {
            var node = graph[l.Nodes[0]];
            Assert.Equal(node.Shape.Numel, Assert.Single(l.Gpu!));
            var body = m.Plan.Kernels.Single(k => k.Name == l.Kernel).Body;
            // The window kernels that compute one element per work-item in both shapes have one form; the rest hold
            // their GPU form under #if ND_GPU.
            var gpu = Regex.Match(body, @"#if ND_GPU\n(.*?)#else\n", RegexOptions.Singleline);
            var form = gpu.Success ? gpu.Groups[1].Value : body;
            Assert.True(gpu.Success || node.Op is "pool2d" or "pool2d_grad", l.Kernel + ": no #if ND_GPU form");
            Assert.Matches(@"__kernel\b[^{]*?\bvoid " + l.Kernel + "\\(", form);
            Assert.DoesNotMatch(@"float(2|4|8|16)\b", form);
            if (gpu.Success) Assert.EndsWith("#endif\n", body);
            // Launched in whole work-groups, each form returns past its last element; the weight gradient is a
            // work-group per weight whose lanes share the sum.
            if (l.GpuRows)
            {
                Assert.Equal("conv2d_grad_weight", node.Op);
                Assert.Contains("const int i = get_group_id(0);", form);
                Assert.Contains("__local float part[ND_ROW_LANES];", form);
            }
            else Assert.Matches(@"const int i = get_global_id\(0\);\n    if \(i >= .*\) return;", form);
        }
        Assert.Contains("#ifndef ND_GPU\n#define ND_GPU 0\n#endif\n", m.KernelSource);
        Assert.Equal(shaped.Count(l => !l.GpuRows), Regex.Matches(m.CSharp, @"if \(GpuShapes\) LaunchGpu\(_k\d+, ").Count);
        Assert.Equal(shaped.Count(l => l.GpuRows), Regex.Matches(m.CSharp, @"if \(GpuShapes\) LaunchRows\(_k\d+, ").Count);
        Assert.Contains(shaped, l => l.GpuRows);
        Assert.Equal(shaped.Count, Regex.Matches(Emit.PlanPrinter.Print(m.Plan, "s.nd"), " with GPU shapes\\] ").Count);
    }

    [Fact]
    public void AModelWithoutConvolutionOrPooling_HasNoGpuForms()
    {
        var result = NeuroCompiler.Compile("d.nd", "model D {\n  input x: f32[N, 8]\n  output y = x |> dense(4) |> tanh\n}\n");
        var m = result.Models.Single();
        Assert.DoesNotContain("ND_GPU", m.KernelSource);
        Assert.DoesNotContain("GpuShapes", m.CSharp);
    }
}
