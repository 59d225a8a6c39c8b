using System;
using System.Linq;
using NeuroDsl.Models;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>An inference pass without the loss (ComputeLoss), and uploads that do not wait for the device.</summary>
public sealed class InferenceTests
{
    private const int Batch = 16;

    private static (float[] Image, int[] Label) Inputs(int seed)
    {
        var rng = new Random(seed);
        return (Enumerable.Range(0, Batch * 784).Select(_ => (float)rng.NextDouble()).ToArray(),
            Enumerable.Range(0, Batch).Select(_ => rng.Next(10)).ToArray());
    }

    [Fact]
    public void WithoutTheLoss_ForwardSkipsTheLossKernels_AndItsOutputsAreTheSame()
    {
        using var model = new Mlp(TestDevice.Instance, N: Batch, seed: 3);
        var (image, label) = Inputs(1);
        model.SetInput("image", image);
        model.SetInput("label", label);
        model.Training = false;
        model.Forward();
        var (logits, loss) = (model.Read("logits"), model.ReadLoss());

        model.ComputeLoss = false;
        var before = model.LaunchCount;
        model.Forward();
        // The MLP's forward pass is three products and the loss's two kernels (its weights are packed already).
        Assert.Equal(3, model.LaunchCount - before);
        Assert.Equal(logits, model.Read("logits"));
        var read = Assert.Throws<InvalidOperationException>(() => model.ReadLoss());
        Assert.Contains("ComputeLoss", read.Message);
        var backward = Assert.Throws<InvalidOperationException>(() => model.Backward());
        Assert.Contains("ComputeLoss", backward.Message);

        // Data parallelism traces the backward pass when it is built (a trace runs nothing, so it is let through), and
        // refuses the step itself.
        var dp = new Distributed.DataParallel(model, new Distributed.SingleProcess(), bucketBytes: 16 * 1024);
        Assert.Contains("ComputeLoss", Assert.Throws<InvalidOperationException>(() => dp.Backward()).Message);

        model.ComputeLoss = true;
        before = model.LaunchCount;
        model.Forward();
        Assert.Equal(5, model.LaunchCount - before);
        Assert.Equal(loss, model.ReadLoss());
        model.Backward();
        dp.Backward();
    }

    /// <summary>Models whose loss has kernels of its own after outputs of other kinds: a convolution stack, batch
    /// norm's running statistics, attention over a sequence, a recurrence.</summary>
    public static TheoryData<string> Models() => new() { "LeNet5", "BatchNormMlp", "TransformerEncoderLayer", "LSTM" };

    [Theory]
    [MemberData(nameof(Models))]
    public void WithoutTheLoss_OutputsAreTheSame_InEveryKindOfModel(string name)
    {
        var device = TestDevice.Instance;
        using CompiledModel model = name switch
        {
            "LeNet5" => new LeNet5(device, N: 4, seed: 2),
            "BatchNormMlp" => new BatchNormMlp(device, N: 8, seed: 2),
            "TransformerEncoderLayer" => new TransformerEncoderLayer(device, N: 2, T: 16, seed: 2),
            _ => new LSTM(device, N: 2, T: 5, seed: 2),
        };
        var rng = new Random(4);
        foreach (var input in model.Inputs)
            if (input.Buffer.IsInt) model.SetInput(input.Name, Enumerable.Range(0, (int)input.Buffer.Elements).Select(_ => rng.Next(2)).ToArray());
            else model.SetInput(input.Name, Enumerable.Range(0, (int)input.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray());
        model.Training = false;
        model.Forward();
        var outputs = model.Outputs.Select(o => model.Read(o.Name)).ToList();
        var loss = model.ReadLoss();
        var before = model.LaunchCount;
        model.Forward();
        var withLoss = model.LaunchCount - before;

        model.ComputeLoss = false;
        before = model.LaunchCount;
        model.Forward();
        Assert.InRange(model.LaunchCount - before, 1, withLoss - 1);
        Assert.Equal(outputs, model.Outputs.Select(o => model.Read(o.Name)).ToList());
        model.ComputeLoss = true;
        model.Forward();
        Assert.Equal(loss, model.ReadLoss());
    }

    [Fact]
    public void Uploads_AreTheirCallsData_ThoughTheCallerReusesItsArrays()
    {
        // The reference: each batch in arrays of its own.
        using var model = new Mlp(TestDevice.Instance, N: Batch, seed: 3);
        model.Training = false;
        var expected = new[] { 1, 2, 3 }.Select(seed =>
        {
            var (image, label) = Inputs(seed);
            model.SetInput("image", image);
            model.SetInput("label", label);
            model.Forward();
            return (model.Read("logits"), model.ReadLoss());
        }).ToList();

        // One pair of arrays, overwritten right after each upload, and two uploads of an input with no launch between.
        var (imageBuffer, labelBuffer) = (new float[Batch * 784], new int[Batch]);
        foreach (var (seed, i) in new[] { 1, 2, 3 }.Select((s, i) => (s, i)))
        {
            var (image, label) = Inputs(seed);
            model.SetInput("image", new float[Batch * 784]);
            image.CopyTo(imageBuffer, 0);
            label.CopyTo(labelBuffer, 0);
            model.SetInput("image", imageBuffer);
            model.SetInput("label", labelBuffer);
            Array.Fill(imageBuffer, float.NaN);
            Array.Fill(labelBuffer, 7);
            model.Forward();
            Assert.Equal(expected[i].Item1, model.Read("logits"));
            Assert.Equal(expected[i].Item2, model.ReadLoss());
        }
    }
}
