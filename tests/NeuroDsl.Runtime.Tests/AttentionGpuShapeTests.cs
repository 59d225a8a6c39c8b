using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Models;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The fused attention kernels' GPU forms (ND_GPU: a work-group per block of query or key rows, tiles in local memory,
/// AttentionKernels.Gpu.cs) on whatever device the tests have, PoCL included, by building models on a device forced to
/// GPU shapes: every op case with a fused attention kernel, forward and backward, against the float64 reference.
/// </summary>
public sealed class AttentionGpuShapeTests
{
    /// <summary>The kernels with a GPU form; D and the mask's gradient have one form, a work-item per element.</summary>
    private static readonly HashSet<string> BlockOps = new(StringComparer.Ordinal)
    {
        "attention", "attention_grad_q", "attention_grad_k", "attention_grad_v", "attention_grad_qkv",
    };

    public static IEnumerable<object[]> AttentionCases() =>
        ReferenceOps.Compile().Where(m => m.Ir.Graph.Nodes.Any(node => node.Op.StartsWith("attention", StringComparison.Ordinal)))
            .SelectMany(m => (ReferenceOps.HasModes(m.Ir) ? new[] { true, false } : new[] { true })
                .Select(training => new object[] { m.Name, training }));

    [Fact]
    public void AttentionCases_CoverEveryBlockKernel_AndTheirGpuFormsAreInThePrograms()
    {
        var names = AttentionCases().Select(c => (string)c[0]).ToHashSet();
        var cases = ReferenceOps.Compile().Where(m => names.Contains(m.Name)).ToList();
        var ops = cases.SelectMany(m => m.Ir.Graph.Nodes.Select(node => node.Op)).Where(BlockOps.Contains).ToHashSet();
        Assert.Equal(BlockOps.OrderBy(o => o), ops.OrderBy(o => o));
        foreach (var m in cases)
            Assert.Contains("reqd_work_group_size(64, 1, 1)", m.KernelSource);
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void AttentionKernels_InGpuShapes_MatchReference(string name, bool training)
    {
        using var device = Device.Open();
        device.GpuShapes = true;
        KernelTests.Check(device, name, 1, training);
        KernelTests.Check(device, name, 37, training);
        KernelTests.Check(device, name, 37, training, inputGradients: true);
    }

    /// <summary>
    /// transformer_layer.nd's encoder layer (heads of 64, q, k and v from one projection: one gradient kernel for the
    /// three) at T = 37, a block of the GPU forms and a part, trained three steps in each shape: the same losses and
    /// parameters as the sums' roundings allow.
    /// </summary>
    [Fact]
    public void TransformerLayer_TrainedThreeSteps_LosesTheSameInBothShapes()
    {
        const int n = 2, t = 37, d = 256;
        var rng = new Random(23);
        var steps = Enumerable.Range(0, 3).Select(_ => (
            X: Enumerable.Range(0, n * t * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(),
            Target: Enumerable.Range(0, n * t * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray())).ToList();
        (float[] Losses, float[] Parameters) Train(bool gpu)
        {
            using var device = Device.Open();
            device.GpuShapes = gpu;
            using var model = new TransformerEncoderLayer(device, N: n, T: t, seed: 4);
            Assert.Equal(gpu, model.GpuShapes);
            var sgd = new Sgd(0.05f, momentum: 0.9f);
            var losses = steps.Select(s => model.TrainStep(sgd, s.X, s.Target)).ToArray();
            return (losses, model.ParameterArena.ReadFloats());
        }
        var cpu = Train(false);
        var gpu = Train(true);
        for (var i = 0; i < cpu.Losses.Length; i++)
            Assert.True(Math.Abs(cpu.Losses[i] - gpu.Losses[i]) <= 1e-4 * Math.Max(1, Math.Abs(cpu.Losses[i])),
                $"step {i}: loss {cpu.Losses[i]} (CPU shapes), {gpu.Losses[i]} (GPU shapes)");
        Assert.NotEqual(cpu.Losses[0], cpu.Losses[2]);
        for (var i = 0; i < cpu.Parameters.Length; i++)
            Assert.True(Math.Abs(cpu.Parameters[i] - gpu.Parameters[i]) <= 1e-4 + 1e-3 * Math.Abs(cpu.Parameters[i]),
                $"parameter {i}: {cpu.Parameters[i]} (CPU shapes), {gpu.Parameters[i]} (GPU shapes)");
    }
}
