using System.Linq;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Kernels are named after the values they compute, and the same kernel text is compiled once.</summary>
public sealed class KernelNamingTests
{
    private static ModelOutput Compile(string text)
    {
        var result = NeuroCompiler.Compile("k.nd", text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single();
    }

    [Fact]
    public void AddingALayerEarlier_LeavesTheLaterKernelsNamesAlone()
    {
        const string tail = "  h = x |> dense(16) |> tanh\n  output y = h |> dense(4) |> sigmoid\n  loss mean(y)\n}\n";
        var before = Compile("model A {\n  input x: f32[N, 8]\n" + tail);
        var after = Compile("model A {\n  input x0: f32[N, 8]\n  x = x0 |> relu\n" + tail);
        var names = before.Plan.Kernels.Select(k => k.Name).ToList();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.Contains(n, after.Plan.Kernels.Select(k => k.Name)));
        Assert.Contains("nd_loss_mean", names);
    }

    [Fact]
    public void IdenticalKernels_AreCompiledOnce()
    {
        // Two outputs computing the same function of same-shaped tensors: one kernel, launched twice. (A product reads
        // the first between them, so the two are not merged into one kernel writing both.)
        var m = Compile("model B {\n  input x: f32[N, 8]\n  input z: f32[N, 8]\n  input w: f32[8, 8]\n  output a = tanh(x * 3)\n"
            + "  output p = a @ w\n  output b = tanh(z * 3)\n}\n");
        Assert.Equal(3, m.Plan.Forward.Count);
        Assert.Equal("nd_fused_a_tanh", m.Plan.Forward[0].Kernel);
        Assert.Equal(m.Plan.Forward[0].Kernel, m.Plan.Forward[2].Kernel);
        Assert.Single(m.Plan.Kernels, k => k.Name.Contains("tanh"));
        Assert.Contains("// The same code serves 2 launches", m.KernelSource);
        Assert.All(m.Plan.Kernels, k => Assert.Equal(k.Name, k.Name.Trim('_')));
    }
}
