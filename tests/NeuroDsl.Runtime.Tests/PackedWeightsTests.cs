using System;
using System.Linq;
using NeuroDsl.Models;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>
/// A dense layer's weight is packed into the GEMM's panels once and kept while the parameters are unchanged: forward
/// passes in between launch only the products, and every way the parameters change packs them again.
/// </summary>
public sealed class PackedWeightsTests
{
    private const int Batch = 4;

    [Fact]
    public void ForwardPasses_BetweenUpdates_PackTheWeightsOnce()
    {
        using var model = new Mlp(TestDevice.Instance, N: Batch, seed: 1);
        model.Training = false;
        SetRandomInputs(model, new Random(2));
        long Launches()
        {
            var before = model.LaunchCount;
            model.Forward();
            return model.LaunchCount - before;
        }
        // Three dense layers: three packs, three products, the loss's two launches.
        Assert.Equal(8, Launches());
        Assert.Equal(5, Launches());
        Assert.Equal(5, Launches());
        model.WriteParameter("h2.bias", new float[256]);
        Assert.Equal(8, Launches());
        Assert.Equal(5, Launches());
    }

    [Fact]
    public void Backward_SkipsThePacksWhoseProductsReadBInPlace()
    {
        using var model = new Mlp(TestDevice.Instance, N: Batch, seed: 1);
        SetRandomInputs(model, new Random(2));
        model.Forward();
        var before = model.LaunchCount;
        model.Backward();
        // The plan's 14 launches for the parameters' gradients: the loss's, 5 products (two storing ReLU's gradient) and
        // their packs, 3 bias sums. Every pack's B (h2 4×256, logits.weight 10×256, h1 4×256, h2.weight 256×256 and
        // image 4×784) is not transposed and whole vectors wide, so a CPU's tile reads them all in place.
        var inPlace = LibraryKernels.IsGpuShape(TestDevice.Instance) ? 0 : 5;
        Assert.Equal(14 - inPlace, model.LaunchCount - before);
    }

    [Fact]
    public void Forward_AfterEveryKindOfParameterChange_MatchesTheReference()
    {
        var device = TestDevice.Instance;
        using var model = new Mlp(device, N: Batch, seed: 1);
        using var other = new Mlp(device, N: Batch, seed: 2);
        var rng = new Random(3);
        var image = SetRandomInputs(model, rng);
        Check(model, image); // packs the weights of seed 1

        // A named parameter written from the host.
        model.WriteParameter("h1.weight", other.Read("h1.weight"));
        Check(model, image);

        // A parameter's slice written directly, and the whole arena.
        model.Parameters.Single(p => p.Name == "logits.weight").Buffer.Write<float>(other.Read("logits.weight"));
        Check(model, image);
        var arena = model.ParameterArena.ReadFloats();
        for (var i = 0; i < arena.Length; i++) arena[i] *= 0.5f;
        model.ParameterArena.Write<float>(arena);
        Check(model, image);

        // A copy on the device, and a step of each optimizer (kernels over the arena).
        model.CopyParametersFrom(other);
        Check(model, image);
        foreach (var optimizer in new Optimizer[] { new Adam(learningRate: 0.01f), new Sgd(learningRate: 0.1f) })
        {
            model.Forward();
            model.Backward();
            model.Step(optimizer);
            Check(model, image);
        }
    }

    private static float[] SetRandomInputs(Mlp model, Random rng)
    {
        var image = Enumerable.Range(0, Batch * 784).Select(_ => (float)rng.NextDouble()).ToArray();
        model.SetInputs(image, Enumerable.Range(0, Batch).Select(i => i % 10).ToArray());
        return image;
    }

    /// <summary>The model's logits against a float64 forward pass over the parameters it holds now.</summary>
    private static void Check(Mlp model, float[] image)
    {
        model.Forward();
        var got = model.Read("logits");
        var x = image.Select(v => (double)v).ToArray();
        foreach (var (layer, relu) in new[] { ("h1", true), ("h2", true), ("logits", false) })
        {
            var w = model.Read(layer + ".weight");
            var b = model.Read(layer + ".bias");
            var inputs = x.Length / Batch;
            var y = new double[Batch * b.Length];
            for (var r = 0; r < Batch; r++)
                for (var j = 0; j < b.Length; j++)
                {
                    var sum = (double)b[j];
                    for (var k = 0; k < inputs; k++) sum += x[r * inputs + k] * w[j * inputs + k];
                    y[r * b.Length + j] = relu ? Math.Max(0, sum) : sum;
                }
            x = y;
        }
        for (var i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(got[i] - x[i]) <= 1e-4 + 1e-4 * Math.Abs(x[i]), $"logits[{i}]: {got[i]} vs {x[i]}");
    }
}
