using System;
using System.Linq;
using NeuroDsl.Models;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>The zoo's small models train: a few steps on random data, on OpenCL, with the loss going down.</summary>
public sealed class ZooTrainingTests
{
    private static float[] Uniform(int n, int seed, float low = 0, float high = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => low + (high - low) * (float)rng.NextDouble()).ToArray();
    }

    private static int[] Labels(int n, int classes, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(classes)).ToArray();
    }

    [Fact]
    public void ZipCode1989_LearnsAFixedBatch()
    {
        const int n = 16;
        using var m = new ZipCode1989(TestDevice.Instance, N: n, seed: 3);
        var images = Uniform(n * 256, 1, -1, 1);
        var labels = Labels(n, 10, 2);
        var targets = Enumerable.Range(0, n * 10).Select(i => i % 10 == labels[i / 10] ? 1f : -1f).ToArray();
        var sgd = new Sgd(0.05f, momentum: 0.9f);
        var losses = Enumerable.Range(0, 30).Select(_ => m.TrainStep(sgd, images, targets)).ToList();
        Assert.True(losses[^1] < losses[0] * 0.5, $"loss {losses[0]} -> {losses[^1]}");
    }

    [Fact]
    public void ResNet20Cifar_TrainsOnRandomImages_WithTheLossFalling()
    {
        const int n = 16;
        using var m = new ResNet20Cifar(TestDevice.Instance, N: n, seed: 5);
        var images = Uniform(n * 3 * 32 * 32, 7, -1, 1);
        var labels = Labels(n, 10, 8);
        var adam = new Adam(1e-3f);
        var losses = Enumerable.Range(0, 12).Select(_ => m.TrainStep(adam, images, labels)).ToList();
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        // Sixteen random images with random labels: the network memorizes them, from about ln 10 ≈ 2.3.
        Assert.True(losses[^1] < losses[0] * 0.5, string.Join(", ", losses));
        Assert.True(losses.Skip(6).Average() < losses.Take(6).Average(), string.Join(", ", losses));
    }

    /// <summary>
    /// The Transformer encoder layers of transformer_layer.nd (with T a size symbol, and causal at T = 128) fit a
    /// fixed random target with Adam: the attention, both layer norms and the feed-forward network all train.
    /// </summary>
    private delegate float Step(Optimizer optimizer, ReadOnlySpan<float> x, ReadOnlySpan<float> target);

    [Fact]
    public void TransformerLayer_PlainAndCausal_FitAFixedTarget()
    {
        const int n = 2, d = 256;
        using var plain = new TransformerEncoderLayer(TestDevice.Instance, N: n, T: 16, seed: 4);
        using var causal = new TransformerEncoderLayerCausal(TestDevice.Instance, N: n, seed: 4);
        void Fits(Step step, int t)
        {
            var x = Uniform(n * t * d, 5, -1, 1);
            var target = Uniform(n * t * d, 6, -1, 1);
            var adam = new Adam(1e-3f);
            var losses = Enumerable.Range(0, 10).Select(_ => step(adam, x, target)).ToList();
            Assert.All(losses, l => Assert.True(float.IsFinite(l)));
            Assert.True(losses[^1] < losses[0] * 0.8, string.Join(", ", losses));
        }
        Fits(plain.TrainStep, 16);
        Fits(causal.TrainStep, 128);
    }

    /// <summary>
    /// One alternation as dcgan.nd describes it: the discriminator learns to tell noise "photos" from the
    /// generator's images; then the generator, fed the discriminator's input gradient, learns to fool it.
    /// </summary>
    [Fact]
    public void Dcgan_DiscriminatorAndGenerator_Alternate_AndEachLossFalls()
    {
        const int n = 4;
        const int pixels = 3 * 64 * 64;
        using var g = new DcganGenerator(TestDevice.Instance, N: n, seed: 11);
        using var d = new DcganDiscriminator(TestDevice.Instance, N: n, seed: 12);
        d.ComputeInputGradients = true;
        var z = Uniform(n * 100, 13, -1, 1);
        var real = Uniform(n * pixels, 14, -1, 1);
        var ones = Enumerable.Repeat(1f, n).ToArray();
        var zeros = new float[n];
        var noFeedback = new float[n * pixels];
        var dOpt = new Adam(2e-4f, beta1: 0.5f);
        var gOpt = new Adam(2e-3f, beta1: 0.5f);

        float[] Generate()
        {
            g.SetInputs(z, noFeedback);
            g.Forward();
            return g.Read("image");
        }

        // The discriminator, against a fixed generator.
        var fake = Generate();
        Assert.All(fake, v => Assert.InRange(v, -1f, 1f));
        var dLosses = Enumerable.Range(0, 6).Select(_ => d.TrainStep(dOpt, real, ones) + d.TrainStep(dOpt, fake, zeros)).ToList();
        Assert.True(dLosses[^1] < dLosses[0], "discriminator: " + string.Join(", ", dLosses));

        // The generator, against a fixed discriminator: its loss is the discriminator's loss on its images
        // labelled real, and its gradient arrives through `feedback`.
        var gLosses = new System.Collections.Generic.List<float>();
        for (var step = 0; step < 6; step++)
        {
            fake = Generate();
            d.SetInputs(fake, ones);
            d.Forward();
            d.Backward();
            gLosses.Add(d.ReadLoss());
            var feedback = d.Read("grad.image");
            Assert.Contains(feedback, v => v != 0);
            g.SetInputs(z, feedback);
            g.Forward();
            g.Backward();
            g.Step(gOpt);
        }
        Assert.True(gLosses[^1] < gLosses[0], "generator: " + string.Join(", ", gLosses));
    }
}
