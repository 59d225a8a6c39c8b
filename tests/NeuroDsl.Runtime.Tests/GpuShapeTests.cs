using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Models;
using NeuroDsl.Testing;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// The GPU shapes (ND_GPU: convolution and pooling kernels with one output element per work-item) run on whatever device
/// the tests have, PoCL included, by building models on a device forced to them: every convolution and pooling op case
/// against the float64 reference, and LeNet-5's training steps against the CPU shapes'.
/// </summary>
public sealed class GpuShapeTests
{
    private static readonly HashSet<string> ShapedOps = new(StringComparer.Ordinal)
    {
        "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "conv_transpose2d", "pool2d", "pool2d_grad",
    };

    // The op cases with a convolution or a pooling window, forward or backward, in each of their modes: each at N = 1 with
    // every gradient, at N = 37 with the parameters' only (as a training step) and with every gradient.
    public static IEnumerable<object[]> ShapedCases() =>
        ReferenceOps.Compile().Where(m => m.Ir.Graph.Nodes.Any(node => ShapedOps.Contains(node.Op)))
            .SelectMany(m => (ReferenceOps.HasModes(m.Ir) ? new[] { true, false } : new[] { true })
                .Select(training => new object[] { m.Name, training }));

    [Fact]
    public void ShapedCases_CoverEveryConvolutionAndPoolingOp()
    {
        var ops = ReferenceOps.Compile().SelectMany(m => m.Ir.Graph.Nodes.Select(node => node.Op)).Where(ShapedOps.Contains).ToHashSet();
        Assert.Equal(ShapedOps.OrderBy(o => o), ops.OrderBy(o => o));
    }

    [Theory]
    [MemberData(nameof(ShapedCases))]
    public void ConvolutionAndPoolingKernels_InGpuShapes_MatchReference(string name, bool training)
    {
        using var device = Device.Open();
        device.GpuShapes = true;
        Assert.Equal(1, device.ElementLanes);
        KernelTests.Check(device, name, 1, training);
        KernelTests.Check(device, name, 37, training);
        KernelTests.Check(device, name, 37, training, inputGradients: true);
    }

    [Fact]
    public void GpuShapes_SetBeforeABuild_AreWhatTheModelRunsWith()
    {
        using var device = Device.Open();
        device.GpuShapes = true;
        using var model = new OpPairPools(device, 2, seed: 1);
        device.GpuShapes = false; // too late for this model: its program and its launches keep the GPU shapes
        Assert.True(model.GpuShapes);
        using var cpu = new OpPairPools(device, 2, seed: 1);
        Assert.False(cpu.GpuShapes);
    }

    // The GEMM's GPU shape (Device.GemmGpuShape: local-memory tiles, kernels/gemm_gpu.cl) in a model: the MLP's every
    // product, forward and backward (A transposed for the weights' gradients, B for x·Wᵀ, ReLU's gradient as the store's
    // gate), is the local kernel, one for each of the CPU shape's GEMMs (the plan's launches unchanged), and three
    // training steps at a batch no tile divides lose and update as the CPU shape's do.
    [Fact]
    public void Mlp_TrainedThreeSteps_InTheGemmsGpuShape_MatchesTheCpuShape()
    {
        var rng = new Random(23);
        const int n = 37;
        var steps = Enumerable.Range(0, 3).Select(_ => (
            Image: Enumerable.Range(0, n * 784).Select(_ => (float)rng.NextDouble()).ToArray(),
            Label: Enumerable.Range(0, n).Select(_ => rng.Next(10)).ToArray())).ToList();
        (float[] Losses, float[] Parameters, string[] Gemms) Train(bool gpu)
        {
            using var device = Device.Open();
            device.GemmGpuShape = gpu;
            using var model = new Mlp(device, N: n, seed: 5);
            var gemms = model.BoundKernels.Select(k => k.Name)
                .Where(k => k.StartsWith("nd_gemm_", StringComparison.Ordinal) && !k.StartsWith("nd_gemm_pack", StringComparison.Ordinal))
                .ToArray();
            var sgd = new Sgd(0.05f, momentum: 0.9f);
            var losses = steps.Select(s => model.TrainStep(sgd, s.Image, s.Label)).ToArray();
            return (losses, model.ParameterArena.ReadFloats(), gemms);
        }
        var cpu = Train(false);
        var gpu = Train(true);
        Assert.Equal(9, gpu.Gemms.Length); // 3 forward, 3 weight gradients, 3 input gradients (the image's only when asked)
        Assert.All(gpu.Gemms, k => Assert.Equal("nd_gemm_local_f32", k));
        Assert.Equal(cpu.Gemms.Length, gpu.Gemms.Length);
        Assert.DoesNotContain(cpu.Gemms, k => k.Contains("local"));
        Assert.NotEqual(cpu.Losses[0], cpu.Losses[2]);
        for (var i = 0; i < cpu.Losses.Length; i++)
            Assert.True(Math.Abs(cpu.Losses[i] - gpu.Losses[i]) <= 1e-4, $"step {i}: loss {cpu.Losses[i]} (CPU shape), {gpu.Losses[i]} (GPU shape)");
        for (var i = 0; i < cpu.Parameters.Length; i++)
            Assert.True(Math.Abs(cpu.Parameters[i] - gpu.Parameters[i]) <= 1e-5 + 1e-3 * Math.Abs(cpu.Parameters[i]),
                $"parameter {i}: {cpu.Parameters[i]} (CPU shape), {gpu.Parameters[i]} (GPU shape)");
    }

    [Fact]
    public void LeNet5_TrainedThreeSteps_LosesTheSameInBothShapes()
    {
        var rng = new Random(17);
        const int n = 8;
        var steps = Enumerable.Range(0, 3).Select(_ => (
            Image: Enumerable.Range(0, n * 32 * 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(),
            Label: Enumerable.Range(0, n).Select(_ => rng.Next(10)).ToArray())).ToList();
        (float[] Losses, float[] Parameters) Train(bool gpu)
        {
            using var device = Device.Open();
            device.GpuShapes = gpu;
            using var model = new LeNet5(device, N: n, seed: 5);
            Assert.Equal(gpu, model.GpuShapes);
            var sgd = new Sgd(0.05f, momentum: 0.9f);
            var losses = steps.Select(s => model.TrainStep(sgd, s.Image, s.Label)).ToArray();
            return (losses, model.ParameterArena.ReadFloats());
        }
        var cpu = Train(false);
        var gpu = Train(true);
        for (var i = 0; i < cpu.Losses.Length; i++)
            Assert.True(Math.Abs(cpu.Losses[i] - gpu.Losses[i]) <= 1e-4, $"step {i}: loss {cpu.Losses[i]} (CPU shapes), {gpu.Losses[i]} (GPU shapes)");
        // The losses moved (the steps trained), and the parameters after them agree as the sums' roundings allow.
        Assert.NotEqual(cpu.Losses[0], cpu.Losses[2]);
        for (var i = 0; i < cpu.Parameters.Length; i++)
            Assert.True(Math.Abs(cpu.Parameters[i] - gpu.Parameters[i]) <= 1e-4 + 1e-3 * Math.Abs(cpu.Parameters[i]),
                $"parameter {i}: {cpu.Parameters[i]} (CPU shapes), {gpu.Parameters[i]} (GPU shapes)");
    }
}
