using System.Linq;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Compiler.Planning;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Lowering yields data: kernel text that does not know its name, and typed arguments the planner binds.</summary>
public sealed class LoweringTests
{
    private static ModelOutput Compile(string text)
    {
        var result = NeuroCompiler.Compile("l.nd", text);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Models.Single();
    }

    [Fact]
    public void TheSameComputation_LowersToTheSameText_NamedOnlyInThePlan()
    {
        // (The product between them keeps them two kernels: merged, one kernel would write both.)
        var m = Compile("model L {\n  input x: f32[N, 8]\n  input z: f32[N, 8]\n  input w: f32[8, 8]\n  output a = tanh(x)\n"
            + "  output p = a @ w\n  output b = tanh(z)\n}\n");
        var graph = m.Ir.Graph;
        var a = OpenClKernels.Emit(graph, graph.Nodes.Single(n => n.Name == "a"));
        var b = OpenClKernels.Emit(graph, graph.Nodes.Single(n => n.Name == "b"));
        Assert.Equal(a.Code, b.Code);
        Assert.Contains("__kernel void " + KernelTemplate.Self + "(", a.Code);
        Assert.Equal(new ArgSpec[] { ArgSpec.Node(graph.Inputs.First().Id), ArgSpec.Node(graph.Nodes.Single(n => n.Name == "a").Id) },
            a.Args);

        var kernel = Assert.Single(m.Plan.Kernels, k => k.Name.Contains("tanh"));
        Assert.Equal("nd_a_tanh", kernel.Name);
        Assert.Contains("__kernel void nd_a_tanh(", kernel.Body);
        Assert.DoesNotContain(KernelTemplate.Self, m.KernelSource);
    }

    [Fact]
    public void RuntimeValues_AreTypedArguments()
    {
        var m = Compile("model D {\n  input x: f32[N, 8]\n  output y = x |> dropout(0.3)\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal(new RuntimeScalar?[] { RuntimeScalar.Seed, RuntimeScalar.Step, RuntimeScalar.Training },
            launch.Args.Skip(2).Select(a => a.Runtime));
        Assert.Contains("AdvanceStep();", m.CSharp);
        Assert.Contains("SeedValue, StepCounter, TrainingFlag", m.CSharp);
    }

    [Fact]
    public void AScratchArgument_IsBoundToTheNodesOwnScratchBuffer()
    {
        var m = Compile("model C {\n  input x: f32[N, 3, 12, 12]\n  output y = x |> conv2d(8, kernel: 3)\n}\n");
        var pack = m.Plan.Forward[0];
        var conv = m.Plan.Forward[1];
        var scratch = pack.Args[^1].Buffer;
        Assert.EndsWith(".packed", m.Plan.Buffers[scratch].Name);
        Assert.Contains(conv.Args, a => a.Buffer == scratch);
    }

    [Fact]
    public void ATiledProduct_SaysItsVariant_SoTheRuntimeNeedNotMatchItsName()
    {
        var m = Compile("model G {\n  input x: f32[N, 256]\n  output y = x |> dense(256)\n}\n");
        var tiled = Assert.Single(m.Plan.Forward, l => l.Variant != KernelVariant.None);
        Assert.Equal(("nd_gemm_tiled_f32", KernelVariant.TiledGemm), (tiled.Kernel, tiled.Variant));
        Assert.Contains("Kernel(\"nd_gemm_tiled_f32\", global::NeuroDsl.Runtime.KernelVariant.TiledGemm, ", m.CSharp);
    }
}
