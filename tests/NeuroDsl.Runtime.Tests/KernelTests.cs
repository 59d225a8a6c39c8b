using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Testing;
using NeuroDsl.Runtime.Tests;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// Every op's forward and backward kernels, as generated into this assembly from tests/Shared/Ops/*.nd, against the float64
/// reference on fresh random inputs: outputs, the loss, and every parameter and input gradient.
/// </summary>
public sealed class KernelTests
{
    public static IEnumerable<object[]> Cases() =>
        ReferenceOps.Compile().SelectMany(m => new[] { 1, 37 }.SelectMany(n => ReferenceOps.HasModes(m.Ir)
            ? new[] { new object[] { m.Name, n, true }, new object[] { m.Name, n, false } }
            : new[] { new object[] { m.Name, n, true } }));

    [Theory]
    [MemberData(nameof(Cases))]
    public void GeneratedKernels_MatchReference(string name, int n, bool training) => Check(TestDevice.Instance, name, n, training);

    // The op cases whose kernels loop over lanes (an innermost axis of a multiple of 16), at lane counts other than this
    // device's: 1 (a GPU's), 4 and 8 (an AVX2 host's), each on a device of its own built with that ND_LANES.
    public static IEnumerable<object[]> LanedCases() =>
        ReferenceOps.Compile().Where(m => m.Name.EndsWith("Laned", StringComparison.Ordinal) || m.Name.EndsWith("LanedAlone", StringComparison.Ordinal))
            .SelectMany(m => new[] { 1, 4, 8 }.Select(lanes => new object[] { m.Name, lanes }));

    [Theory]
    [MemberData(nameof(LanedCases))]
    public void LanedKernels_MatchReference_AtEveryLaneCount(string name, int lanes)
    {
        using var device = Device.Open();
        device.ElementLanes = lanes;
        Check(device, name, 1, true);
        Check(device, name, 37, true);
    }

    // The op cases with row kernels (reductions, softmax, norms and what is fused around them: one work-group of
    // ND_ROW_LANES work-items per row), with a GPU's 128 lanes where a CPU device runs 1: the lanes'
    // strided loops, the tree that combines their partial sums, and rows shorter than the lanes.
    public static IEnumerable<object[]> RowLaneCases() =>
        ReferenceOps.Compile().Where(m => m.KernelSource.Contains("reqd_work_group_size(ND_ROW_LANES", StringComparison.Ordinal))
            .Select(m => new object[] { m.Name, 128 });

    [Theory]
    [MemberData(nameof(RowLaneCases))]
    public void RowKernels_MatchReference_WithAGpusLanes(string name, int lanes)
    {
        using var device = Device.Open();
        device.RowLanes = lanes;
        Check(device, name, 1, true);
        Check(device, name, 37, true);
    }

    internal static void Check(Device device, string name, int n, bool training, bool? inputGradients = null)
    {
        var compiled = ReferenceOps.Compile().Single(m => m.Name == name);
        var ir = compiled.Ir;
        var graph = ir.Graph;
        var type = typeof(KernelTests).Assembly.GetType("NeuroDsl.Runtime.Tests." + name, throwOnError: true)!;
        var seed = (ulong)Environment.TickCount64;
        using var model = (CompiledModel)Activator.CreateInstance(type, device, n, seed)!;
        // At N = 1 the input gradients too; at N = 37 the parameters' only, as a training step computes them (a launch
        // wrongly marked as serving input gradients only is then skipped, and a parameter's gradient is wrong), unless
        // the caller asks for both.
        model.ComputeInputGradients = inputGradients ?? n == 1;
        model.Training = training;

        var symbols = new Dictionary<string, long> { ["N"] = n, [ReferenceInterpreter.TrainingSymbol] = training ? 1 : 0 };
        var rng = new Random((int)seed);
        var leaves = new Dictionary<int, double[]>();
        foreach (var input in graph.Inputs)
        {
            var values = ReferenceOps.RandomLeaf(ir, input, symbols, rng);
            leaves[input.Id] = values;
            if (input.DType == DType.I32) model.SetInput(input.Name, values.Select(v => (int)v).ToArray());
            else model.SetInput(input.Name, values.Select(v => (float)v).ToArray());
        }
        foreach (var p in graph.Params)
            leaves[p.Id] = model.Read(p.Name).Select(v => (double)v).ToArray(); // as initialized on the device

        model.Forward();
        model.Backward();
        symbols[ReferenceInterpreter.SeedSymbol] = (uint)(seed ^ (seed >> 32));
        symbols[ReferenceInterpreter.StepSymbol] = model.StepIndex;
        var reference = ReferenceInterpreter.Run(graph, symbols, leaves);

        foreach (var (outName, id) in graph.Outputs)
            AssertClose(reference[id], model.Read(outName), $"{name} N={n} training={training} output {outName}");
        AssertClose(reference[graph.LossId!.Value], new[] { model.ReadLoss() }, $"{name} N={n} loss");
        foreach (var (leafId, gradId) in graph.Gradients)
        {
            var leaf = graph[leafId];
            if (leaf.Kind != NodeKind.Param && !model.ComputeInputGradients) continue;
            AssertClose(reference[gradId], model.Read("grad." + leaf.Name), $"{name} N={n} grad.{leaf.Name}");
        }
    }

    internal static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<float> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var tolerance = 2e-5 + 2e-4 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"{what}[{i}]: device {actual[i]}, reference {expected[i]}");
        }
    }
}

/// <summary>Mode-dependent behaviour: running statistics, dropout masks per step, frozen parameters.</summary>
public sealed class ModeTests
{
    [Fact]
    public void BatchNorm_UpdatesRunningStatistics_InTrainingOnly()
    {
        using var m = new OpBatchNorm2d(TestDevice.Instance, 8, seed: 1);
        var rng = new System.Random(5);
        var x = Enumerable.Range(0, 8 * 60).Select(_ => (float)(rng.NextDouble() * 4 + 1)).ToArray();
        m.SetInput("x", x);
        m.SetInput("r", new float[8 * 60]);
        m.Forward();
        var mean = m.Read("y.running_mean");
        // channel 0: momentum 0.1 towards the batch mean
        var c0 = Enumerable.Range(0, 8).SelectMany(n => Enumerable.Range(0, 20).Select(p => (double)x[n * 60 + p])).Average();
        Assert.Equal(0.1 * c0, mean[0], 4);
        m.Training = false;
        m.Forward();
        Assert.Equal(mean, m.Read("y.running_mean"));
    }

    [Fact]
    public void Dropout_DrawsANewMaskEachTrainingStep_AndNoneInEvaluation()
    {
        using var m = new OpDropout(TestDevice.Instance, 50, seed: 9);
        var x = Enumerable.Repeat(1f, 50 * 40).ToArray();
        m.SetInput("x", x);
        m.SetInput("r", x);
        m.Forward();
        var first = m.Read("y");
        m.Forward();
        var second = m.Read("y");
        Assert.NotEqual(first, second);
        var kept = first.Count(v => v != 0) / (double)first.Length;
        Assert.InRange(kept, 0.65, 0.75);
        Assert.All(first.Where(v => v != 0), v => Assert.Equal(1 / 0.7f, v, 5));
        m.Training = false;
        m.Forward();
        Assert.Equal(x, m.Read("y"));
    }
}
