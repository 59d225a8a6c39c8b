using System;
using NeuroDsl.Testing;
using System.IO;
using System.Linq;
using Xunit;

namespace NeuroDsl.Compiler.Tests;

/// <summary>Kernel-count budgets (tinygrad-style): fusion must keep these, and tighten them when it improves.</summary>
public sealed class FusionTests
{
    private static ModelOutput Compile(string text) => Assert.Single(NeuroCompiler.Compile("f.nd", text).Models);

    private static ModelOutput Model(string file) =>
        NeuroCompiler.Compile(file, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", file))).Models.Single();

    private static int TrainingLaunches(ModelOutput m) => m.Plan.Forward.Count + m.Plan.Backward.Count(l => !l.InputGradientOnly) + 1;

    [Fact]
    public void AnElementwiseChain_IsOneKernel()
    {
        var m = Compile("model E {\n  input x: f32[N, 8]\n  output y = relu(tanh(x * 2 + 1) - 0.5)\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal("nd_fused_y_relu", launch.Kernel);
        Assert.Contains("// Fused: mul -> add -> tanh -> sub -> relu", m.KernelSource);
    }

    [Fact]
    public void SplitGates_AreReadInPlace_ByTheKernelThatAppliesThem()
    {
        // An LSTM's gate arithmetic: the four slices of z are read from z by the one kernel that computes c'.
        var m = Compile("model G {\n  input z: f32[N, 12]\n  input c: f32[N, 3]\n  i, f, g, o = split(z, 4)\n"
            + "  output y = sigmoid(f) * c + sigmoid(i) * tanh(g) + o\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal("nd_fused_y_add", launch.Kernel);
        Assert.Contains("e0[6 + c0 * 12 + c1]", m.KernelSource); // g: columns 6..8 of each row of 12
    }

    [Fact]
    public void SlicesGradients_AreGatheredByOneKernel()
    {
        var m = Compile("model G {\n  input x: f32[N, 12]\n  input c: f32[N, 3]\n  param w: f32[12] init: normal(0, 1)\n"
            + "  z = x * w\n  i, f, g, o = split(z, 4)\n  c_next = sigmoid(f) * c + sigmoid(i) * tanh(g)\n"
            + "  output h = sigmoid(o) * tanh(c_next)\n  loss mean(h * h) + mean(c_next)\n}\n");
        // No slice and no gradient of a slice has a kernel of its own: ∂z is one kernel reading the four gates'
        // gradients in place.
        Assert.DoesNotContain(m.Plan.Forward.Concat(m.Plan.Backward), l => l.Kernel.Contains("strided_slice", StringComparison.Ordinal));
        Assert.Contains("// Fused: strided_slice_grad -> strided_slice_grad -> add -> strided_slice_grad -> add -> strided_slice_grad", m.KernelSource);
    }

    [Fact]
    public void ACheapValueReadByTwoKernels_IsComputedInEach_AnExpensiveOneIsStored()
    {
        // a + b is read by exp and by tanh, each in a kernel of its own (a product reads y between them, so the two are
        // not merged): both add it up, no buffer holds it.
        var cheap = Compile("model C {\n  input a: f32[N, 8]\n  input b: f32[N, 8]\n  input w: f32[8, 8]\n  s = a + b\n"
            + "  output y = exp(s)\n  output p = y @ w\n  output z = tanh(s)\n}\n");
        Assert.Equal(new[] { "nd_fused_y_exp", "nd_gemm_f32", "nd_fused_z_tanh" }, cheap.Plan.Forward.Select(l => l.Kernel));
        Assert.DoesNotContain(cheap.Plan.Buffers, x => x.Name == "s");
        // exp(a) read twice is computed once and stored: a transcendental costs more than the read.
        var dear = Compile("model D {\n  input a: f32[N, 8]\n  input w: f32[8, 8]\n  s = exp(a)\n  output y = s * 2\n"
            + "  output p = y @ w\n  output z = s + 1\n}\n");
        Assert.Equal(3, dear.Plan.Forward.Count);
        Assert.Contains(dear.Plan.Buffers, x => x.Name == "s");
    }

    [Fact]
    public void ASelectionOverAComparison_IsOneKernel()
    {
        // The mask is an f32 elementwise value like any other: comparison, scaling and selection share a kernel.
        var m = Compile("model W {\n  input x: f32[N, 7]\n  output y = where(x > 0, x, 0.1 * x)\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal("nd_fused_y_where", launch.Kernel);
        Assert.Contains("// Fused: gt -> mul -> where", m.KernelSource);
    }

    [Fact]
    public void AConvolutionTakesItsActivationAsAnEpilogue()
    {
        var m = Compile("model C {\n  input x: f32[N, 3, 8, 8]\n  output y = x |> conv2d(4, kernel: 3) |> tanh\n}\n");
        // The weight packing, then one kernel that convolves and applies tanh.
        Assert.Equal(new[] { "nd_fused_y_tanh_pack", "nd_fused_y_tanh" }, m.Plan.Forward.Select(l => l.Kernel));
    }

    [Fact]
    public void ADenseLayerTakesBiasAndActivationIntoItsGemm()
    {
        // A small product: one launch of the simple GEMM, with the activation code (1 = relu) as its last argument.
        var small = Compile("model D {\n  input x: f32[N, 4]\n  output y = x |> dense(3) |> relu\n}\n");
        var launch = Assert.Single(small.Plan.Forward);
        Assert.Equal("nd_gemm_f32", launch.Kernel);
        Assert.Equal((Ir.Dim)1, launch.Args[^1].Int);
        // A real layer: packing B, then the tiled GEMM applying bias and tanh (2) in its store.
        var large = Compile("model L {\n  input x: f32[N, 784]\n  output y = x |> dense(256) |> tanh\n}\n");
        Assert.Equal(new[] { "nd_gemm_pack_b_f32", "nd_gemm_tiled_f32" }, large.Plan.Forward.Select(l => l.Kernel));
        Assert.Equal((Ir.Dim)2, large.Plan.Forward[1].Args[^1].Int);
        // LeNet's C5 (a 5×5 filter over a 5×5 map) runs as a dense layer with its tanh fused the same way.
        var c5 = Compile("model C {\n  input x: f32[N, 16, 5, 5]\n  output y = x |> conv2d(120, kernel: 5) |> tanh\n}\n");
        Assert.Equal(new[] { "nd_gemm_pack_b_f32", "nd_gemm_tiled_f32" }, c5.Plan.Forward.Select(l => l.Kernel));
    }

    [Fact]
    public void AnActivationsGradient_IsTheEpilogueOfTheProductBeforeIt()
    {
        // The MLP's backward: grad.h2 = dY·W3 and grad.h1 = dH2·W2 each store relu_grad(h, ·) (act 5) reading h in the
        // bias argument (no bias), so no relu_grad kernel is left; the forward keeps relu (1) in its products.
        var mlp = Model("mlp.nd");
        Assert.DoesNotContain(mlp.Plan.Backward, l => l.Kernel.Contains("relu_grad", StringComparison.Ordinal));
        var gated = mlp.Plan.Backward.Where(l => l.Kernel == "nd_gemm_tiled_f32" && l.Args[^1].Int == (Ir.Dim)5).ToList();
        Assert.Equal(2, gated.Count);
        var h1 = mlp.Plan.Buffers.Single(b => b.Name == "h1").Index;
        var h2 = mlp.Plan.Buffers.Single(b => b.Name == "h2").Index;
        Assert.Equal(new[] { h2, h1 }, gated.Select(l => l.Args[6].Buffer));
        Assert.All(gated, l => Assert.Equal((Ir.Dim)0, l.Args[7].Int));
        // tanh's (6) and sigmoid's (7) as well.
        var gates = Compile("model G {\n  input x: f32[N, 64]\n  output y = x |> dense(64) |> tanh |> dense(64) |> sigmoid |> dense(32)\n"
            + "  loss mean(y)\n}\n");
        Assert.Equal(new[] { 7, 6 }, gates.Plan.Backward.Where(l => l.Kernel == "nd_gemm_tiled_f32" && l.Args[^1].Int is { } a && a.Coef >= 5)
            .Select(l => (int)l.Args[^1].Int!.Value.Coef));
        Assert.DoesNotContain(gates.Plan.Backward, l => l.Kernel.Contains("_grad", StringComparison.Ordinal) && l.Kernel.Contains("tanh", StringComparison.Ordinal));
    }

    [Fact]
    public void OpsNd_CoversBothEpiloguePaths()
    {
        var ops = ReferenceOps.Compile();
        Assert.Contains("vstore8(t", ops.Single(m => m.Name == "OpConvEpilogue").KernelSource);
        Assert.Contains("const int c0 = n, c1 =", ops.Single(m => m.Name == "OpConvEpilogueBroadcast").KernelSource);
    }

    [Fact]
    public void ValuesNeededElsewhere_AreNotFusedAway()
    {
        // x*x+1 is read by the division's gradient and y is an output: the kernel computing them stores both (it also
        // computes y*r, which feeds a reduction, into the same kernel: multi-output fusion).
        var m = Compile("model K {\n  input x: f32[N, 4]\n  input r: f32[N, 4]\n  output y = 1 / (x * x + 1)\n  loss mean(y * r)\n}\n");
        Assert.Equal(new[] { "nd_fused_loss_0_mul", "nd_loss_mean" }, m.Plan.Forward.Select(l => l.Kernel));
        var stored = m.Plan.Forward[0].Args.Where(a => a.Buffer >= 0).Select(a => m.Plan.Buffers[a.Buffer].Name).ToList();
        Assert.Contains("y.1", stored);
        Assert.Contains("y", stored);
        Assert.Contains(m.Plan.Backward, l => l.Args.Any(a => a.Buffer >= 0 && m.Plan.Buffers[a.Buffer].Name == "y.1"));
    }

    [Fact]
    public void LayerNorm_IsOneRowKernel()
    {
        // Mean, variance, the scale and the affine map: one work-item per row, one launch.
        var m = Compile("model L {\n  input x: f32[N, 16, 64]\n  output y = x |> layer_norm\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal("nd_fused_y_add", launch.Kernel);
        Assert.Contains("// Fused rows: reduce_mean -> reduce_var -> add -> rsqrt -> sub -> mul -> mul -> add", m.KernelSource);
        // Training: the same kernel also stores what the backward pass reads; then the loss.
        var t = Compile("model T {\n  input x: f32[N, 16, 64]\n  input r: f32[N, 16, 64]\n  output y = x |> layer_norm\n"
            + "  loss mean(y * r)\n}\n");
        Assert.Equal(new[] { "nd_fused_loss_0_mul", "nd_loss_mean" }, t.Plan.Forward.Select(l => l.Kernel));
    }

    [Fact]
    public void Lrn_IsOneKernelEachWay_TheBackwardRecomputingTheForwardsElementwiseValues()
    {
        var m = Compile("model R {\n  input x: f32[N, 8, 5, 5]\n  input r: f32[N, 8, 5, 5]\n  y = x |> lrn(5)\n"
            + "  output z = y * 2\n  loss mean(z * r)\n}\n");
        // The squares inside the window's loop, the power and the product after it (and z), in one kernel ...
        Assert.Equal(new[] { "nd_fused_loss_0_mul", "nd_loss_mean" }, m.Plan.Forward.Select(l => l.Kernel));
        Assert.Contains("// Fused rows: square -> window_sum -> mul -> add -> pow -> mul -> mul -> mul", m.KernelSource);
        // ... which stores the window sums (the backward pass reads them) but not the scale or the power: the one
        // backward kernel of LRN computes those again from the sums.
        var forward = m.Plan.Forward[0].Args.Select(a => m.Plan.Buffers[a.Buffer].Name).ToList();
        Assert.Contains("y.1", forward);
        Assert.DoesNotContain("y.3", forward);
        Assert.DoesNotContain("y.4", forward);
        var backward = Assert.Single(m.Plan.Backward, l => l.Args.Any(a => a.Buffer >= 0 && m.Plan.Buffers[a.Buffer].Name == "y.1"));
        Assert.Equal("nd_fused_grad_x_add", backward.Kernel);
        // With the gradient of r's product (merged: one kernel writes both input gradients) and of z.
        Assert.Equal(2, m.Plan.Backward.Count);
    }

    [Fact]
    public void AReductionComputesItsProducersInItsLoop()
    {
        var m = Compile("model S {\n  input x: f32[N, 3, 9]\n  output s = sum(tanh(x) * x + 1, axis: [0, 2])\n}\n");
        var launch = Assert.Single(m.Plan.Forward);
        Assert.Equal("nd_fused_s_reduce_sum", launch.Kernel);
        Assert.Equal(new[] { "x", "s" }, launch.Args.Select(a => m.Plan.Buffers[a.Buffer].Name));
    }

    [Fact]
    public void AValueReadBeforeTheRowKernelRuns_IsStoredByTheKernelComputingIt()
    {
        // d is read by u's kernel, which runs before the row kernel of y: that kernel computes d and stores it, and the
        // row kernel reads it there.
        var ops = ReferenceOps.Compile().Single(m => m.Name == "OpRowEarlyReader");
        Assert.Equal("nd_fused_u_mul", ops.Plan.Forward[0].Kernel);
        Assert.Contains(ops.Plan.Forward[0].Args, a => a.Buffer >= 0 && ops.Plan.Buffers[a.Buffer].Name == "d");
        var row = Assert.Single(ops.Plan.Forward, l => l.Kernel == "nd_fused_y_add");
        Assert.Equal(new[] { "d", "y" }, row.Args.Select(a => ops.Plan.Buffers[a.Buffer].Name));
    }

    [Fact]
    public void CrossEntropy_IsARowKernelAndAMean_ItsGradientOneKernel()
    {
        // A composition: max, Σ exp and the label's logit per row in one kernel (picked in its loop by the element's
        // position, never a tensor of its own), the mean over rows a second; the gradient, softmax − one_hot scaled,
        // one kernel reading the labels again.
        var m = Compile("model X {\n  input x: f32[N, 10]\n  input labels: i32[N]\n  output l = cross_entropy(x, labels)\n  loss l\n}\n");
        Assert.Equal(2, m.Plan.Forward.Count);
        Assert.Contains("// Fused rows: reduce_max -> stop_gradient -> sub -> exp -> reduce_sum -> log -> pick_class"
            + " -> reduce_sum -> sub", m.KernelSource);
        var backward = Assert.Single(m.Plan.Backward);
        Assert.StartsWith("nd_fused_grad_", backward.Kernel);
        Assert.DoesNotContain("iota", m.KernelSource);
    }

    [Fact]
    public void AGradientsRowScale_IsComputedInTheKernelThatReadsIt()
    {
        // mean's gradient over N (dL / NUMEL) and the [N, 1] factor of a row broadcast into the [N, 8] kernel: one
        // launch, no kernel of [N] or [1] work-items before it.
        var m = Compile("model B {\n  input x: f32[N, 8]\n  input s: f32[N, 1]\n  param w: f32[8] init: ones\n"
            + "  output y = x * w / (s * s + 1)\n  loss mean(y)\n}\n");
        var grads = m.Plan.Backward.Where(l => !l.InputGradientOnly).ToList();
        Assert.All(grads, l => Assert.DoesNotContain("mean_share", l.Kernel));
        Assert.DoesNotContain(m.Plan.Backward, l => l.Kernel.EndsWith("reduce_mean_grad", StringComparison.Ordinal));
    }

    [Fact]
    public void TrainingStepBudgets_HoldForTheZoo()
    {
        Assert.True(TrainingLaunches(Model("xor_mlp.nd")) <= 13);
        // 23: the two ReLU gradients are the stores of the products before them (a CPU also skips the backward's 5 packs).
        Assert.True(TrainingLaunches(Model("mlp.nd")) <= 23);
        var lenet = Model("lenet5.nd");
        // 13: cross-entropy is a row kernel and a mean (it was one launch on one work-item for the whole batch).
        Assert.True(lenet.Plan.Forward.Count <= 13, $"LeNet-5 forward: {lenet.Plan.Forward.Count} launches");
        // 40: the tanh gradients of F6 and C5 (a dense layer's product) are the stores of the products after them.
        Assert.True(TrainingLaunches(lenet) <= 40, $"LeNet-5 step: {TrainingLaunches(lenet)} launches");
    }
}
