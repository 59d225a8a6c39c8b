using System;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>
/// Multi-output fusion: elementwise kernels of one shape and pass merged into one kernel that writes each value, only
/// where no kernel between them reads what the earlier ones wrote, within three math-library calls per kernel (eight
/// for a kernel looping over lanes), and
/// never across the launches that serve only input gradients. The models are tests/Shared/Ops/multioutput.nd, whose
/// kernels KernelTests check on the device against the float64 reference.
/// </summary>
public class MultiOutputFusionTests
{
    private static ModelOutput Op(string name) => ReferenceOps.Compile().Single(m => m.Name == name);

    private static string[] Names(Plan plan, Launch launch) =>
        launch.Args.Where(a => a.Buffer >= 0).Select(a => plan.Buffers[a.Buffer].Name).ToArray();

    [Fact]
    public void Siblings_AreOneKernel_StoringEachValueReadElsewhere()
    {
        var m = Op("OpMultiSiblings");
        // a, b (outputs) and a·r (read by the mean) in one kernel; b·r comes after the mean that reads a·r.
        var first = m.Plan.Forward[0];
        Assert.Equal("nd_fused_loss_0_mul", first.Kernel);
        Assert.Equal(new[] { "x", "r", "loss.0", "a", "b" }, Names(m.Plan, first));
        Assert.Contains("s0[i] = ", m.Plan.Kernels.Single(k => k.Name == first.Kernel).Body);
        Assert.Equal(5, m.Plan.Forward.Count);
    }

    [Fact]
    public void AMergedKernel_CallsTheMathLibraryAtMostThreeTimes()
    {
        var m = Op("OpMultiBudget");
        foreach (var kernel in m.Plan.Kernels)
        {
            var calls = System.Text.RegularExpressions.Regex.Matches(kernel.Body, @"\b(tanh|exp)\(").Count;
            Assert.True(calls <= 3, $"{kernel.Name} calls the math library {calls} times");
        }
        // The four tanh in two kernels: three in the first, the fourth with the products after them.
        Assert.Equal(new[] { 3, 1 }, m.Plan.Forward.Select(l => m.Plan.Kernels.Single(k => k.Name == l.Kernel).Body)
            .Select(b => System.Text.RegularExpressions.Regex.Matches(b, @"\btanh\(").Count).Where(c => c > 0));
    }

    [Fact]
    public void AKernelLoopingOverLanes_MergesPastTheMathBudget_AndIndexesItsLanesLinearly()
    {
        var m = Op("OpMultiBudgetLaned");
        var tanh = m.Plan.Forward.Select(l => m.Plan.Kernels.Single(k => k.Name == l.Kernel).Body)
            .Select(b => System.Text.RegularExpressions.Regex.Matches(b, @"\btanh\(").Count).Where(c => c > 0).ToList();
        Assert.Equal(new[] { 4 }, tanh);
        var laned = m.Plan.Forward.Single(l => m.Plan.Kernels.Single(k => k.Name == l.Kernel).Body.Contains("tanh(", StringComparison.Ordinal));
        Assert.True(laned.Lanes);
        var body = m.Plan.Kernels.Single(k => k.Name == laned.Kernel).Body;
        Assert.Contains("const int i0 = get_global_id(0) * ND_LANES;", body);
        Assert.Contains("#pragma clang loop vectorize(assume_safety)", body);
        Assert.Contains("const int i = i0 + l;", body);
        // OpMultiBudget's [N, 6] is no multiple of 16: one element per work-item, as before.
        Assert.All(Op("OpMultiBudget").Plan.Forward, l => Assert.False(l.Lanes, l.Kernel));

        var lstm = Op("OpMultiLstmLaned");
        Assert.Equal(2, lstm.Plan.Forward.Count(l => l.Loop is not null && !l.Kernel.StartsWith("nd_gemm", StringComparison.Ordinal)));
        var step = lstm.Plan.Forward.Where(l => l.Loop is not null && l.Lanes).Select(l => lstm.Plan.Kernels.Single(k => k.Name == l.Kernel).Body).ToList();
        // c' and h' in one kernel: the innermost coordinate of lane l is the first lane's plus l.
        Assert.Contains(step, b => b.Contains("const int c1 = c1_0 + l;", StringComparison.Ordinal)
            && System.Text.RegularExpressions.Regex.Matches(b, @"\b(tanh|exp)\(").Count == 5);

        // A slice read by a product, its gradient and a lone elementwise op are kernels of their own, laned alike; the
        // product is not.
        var alone = Op("OpSlicingLanedAlone");
        var launches = alone.Plan.Forward.Concat(alone.Plan.Backward).ToList();
        Assert.True(launches.Single(l => l.Kernel.EndsWith("_strided_slice", StringComparison.Ordinal)).Lanes);
        Assert.True(launches.Single(l => l.Kernel.EndsWith("_strided_slice_grad", StringComparison.Ordinal)).Lanes);
        Assert.True(launches.First(l => l.Kernel.EndsWith("_mul", StringComparison.Ordinal) && !l.Kernel.Contains("fused", StringComparison.Ordinal)).Lanes);
        Assert.All(launches.Where(l => l.Kernel.StartsWith("nd_gemm", StringComparison.Ordinal)), l => Assert.False(l.Lanes));
        Assert.Contains("#define ND_LANES 1", NeuroDsl.Compiler.NeuroCompiler.KernelText(alone.Plan));
    }

    [Fact]
    public void ASliceReadingAnotherElement_RunsAfterTheMergedKernel()
    {
        var m = Op("OpMultiSliceReader");
        // y and z in one kernel; the slices of both are read by the next kernel, not inside the first.
        Assert.Equal(new[] { "x", "z", "y" }, Names(m.Plan, m.Plan.Forward[0]));
        Assert.Contains("y", Names(m.Plan, m.Plan.Forward[1]));
        Assert.Contains("z", Names(m.Plan, m.Plan.Forward[1]));
    }

    [Fact]
    public void InputGradientKernels_AreNotMergedWithParameterGradientKernels()
    {
        var m = Op("OpMultiLstmInPlace");
        foreach (var launch in m.Plan.Backward.Where(l => l.Kernel.StartsWith("nd_fused_", StringComparison.Ordinal)))
        {
            var names = Names(m.Plan, launch);
            Assert.False(names.Contains("grad.r.add") && names.Contains("grad.h"), launch.Kernel);
        }
        Assert.Single(m.Plan.Backward, l => l.InputGradientOnly && Names(m.Plan, l).Contains("grad.r.add"));
    }

    [Fact]
    public void ACellsStepInputs_AreReadInPlace_AtTheLoopsTime()
    {
        var m = Op("OpMultiLstmInPlace");
        var forward = m.Plan.Forward.Where(l => l.Loop is not null).ToList();
        var backward = m.Plan.Backward.Where(l => l.Loop is not null).ToList();
        // x_t is read from x by the kernel adding the bias; the reverse loop reads the kept z_t, ∂h_t and c_{t-1} (one
        // step back in the trajectory; zero, the initial state, before the first step) in place too.
        Assert.DoesNotContain(forward, l => l.Kernel.Contains("_read_", StringComparison.Ordinal));
        Assert.Single(forward, l => Names(m.Plan, l).Contains("x") && l.Args.Any(a => a.Runtime == RuntimeScalar.Time));
        Assert.DoesNotContain(backward, l => l.Kernel.Contains("_read_", StringComparison.Ordinal));
        var kernel = m.Plan.Kernels.Single(k => k.Name == "nd_fused_h_c_0_c_next_3_tanh").Body;
        Assert.Contains("const int t)", kernel);
        Assert.Contains("e0[t * 12 + 3 + c0 * 60 + c1]", kernel); // the forget gate of step t, at linear addresses
        Assert.Contains(m.Plan.Kernels, k => k.Body.Contains("((t - 1) >= 0 && (t - 1) < 5 ? ", StringComparison.Ordinal)
            && k.Body.Contains(": (0.0f))", StringComparison.Ordinal));
    }
}
