using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Models;
using NeuroDsl.Runtime.Training;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>The two dense classics train to 100% through their generated classes on OpenCL, reproducibly.</summary>
public sealed class TrainingTests
{
    [Fact]
    public void Perceptron_LearnsSeparablePoints_WithRosenblattsRule()
    {
        var data = SmallDataSet.Blobs(60, seed: 3);
        using var model = new Perceptron(TestDevice.Instance, N: 1, seed: 1);
        using var eval = new Perceptron(TestDevice.Instance, N: data.Count, seed: 1);
        var sgd = new Sgd(learningRate: 1f);
        var epochs = 0;
        for (; epochs < 100; epochs++)
        {
            var mistakes = 0;
            for (var i = 0; i < data.Count; i++)
            {
                var x = data.X.AsSpan(i * 2, 2).ToArray();
                var y = data.Y[i];
                var w = model.Read("score.weight");
                var b = model.Read("score.bias")[0];
                var loss = model.TrainStep(sgd, x, new[] { y });
                var s = w[0] * x[0] + w[1] * x[1] + b;
                if (y * s <= 0)
                {
                    // Rosenblatt's update, exactly: w ← w + y·x, b ← b + y.
                    mistakes++;
                    Assert.Equal(new[] { w[0] + y * x[0], w[1] + y * x[1] }, model.Read("score.weight"));
                    Assert.Equal(b + y, model.Read("score.bias")[0]);
                    Assert.Equal(-y * s, loss, 5);
                }
                else Assert.Equal(0f, loss);
            }
            if (mistakes == 0) break;
        }
        Assert.True(epochs < 100, "the perceptron did not converge on separable data");
        eval.CopyParametersFrom(model);
        eval.SetInputs(data.X, data.Y);
        eval.Forward();
        Assert.Equal(1.0, data.Accuracy(eval.Read("prediction")));
    }

    [Fact]
    public void XorMlp_LearnsXor_ByBackpropagation()
    {
        var losses = TrainXor(seed: 7, steps: 2000);
        var data = SmallDataSet.Xor();
        using var model = new XorMlp(TestDevice.Instance, N: 4, seed: 7);
        var sgd = new Sgd(learningRate: 2f, momentum: 0.9f);
        for (var i = 0; i < 2000; i++) model.TrainStep(sgd, data.X, data.Y);
        model.Forward();
        var y = model.Read("y");
        Assert.Equal(1.0, data.Accuracy(y));
        Assert.True(losses[^1] < 0.02f, $"final loss {losses[^1]}");
        Assert.True(losses[^1] < losses[0] / 10);
    }

    [Fact]
    public void SameSeed_GivesTheSameLossSequence()
    {
        var a = TrainXor(seed: 11, steps: 200);
        var b = TrainXor(seed: 11, steps: 200);
        var c = TrainXor(seed: 12, steps: 200);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    private static List<float> TrainXor(ulong seed, int steps)
    {
        var data = SmallDataSet.Xor();
        using var model = new XorMlp(TestDevice.Instance, N: 4, seed: seed);
        var sgd = new Sgd(learningRate: 2f, momentum: 0.9f);
        return Enumerable.Range(0, steps).Select(_ => model.TrainStep(sgd, data.X, data.Y)).ToList();
    }

    [Fact]
    public void Parameters_AreInitializedFromTheSeed_WithTheirDeclaredRanges()
    {
        using var a = new XorMlp(TestDevice.Instance, N: 4, seed: 5);
        using var b = new XorMlp(TestDevice.Instance, N: 16, seed: 5);
        using var c = new XorMlp(TestDevice.Instance, N: 4, seed: 6);
        Assert.Equal(a.Read("hidden.weight"), b.Read("hidden.weight"));
        Assert.NotEqual(a.Read("hidden.weight"), c.Read("hidden.weight"));
        Assert.All(a.Parameters.SelectMany(p => a.Read(p.Name)), v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(9, a.Parameters.Sum(p => p.Shape.Aggregate(1L, (x, y) => x * y)));
    }
}
