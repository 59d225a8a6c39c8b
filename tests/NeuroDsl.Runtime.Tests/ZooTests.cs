using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Models;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>The paper zoo on OpenCL: one forward pass at batch 1 each (large models included), DQN against the reference.</summary>
public sealed class ZooTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    private static void ForwardAtBatch1(CompiledModel model, string output, int classes)
    {
        model.Training = false;
        foreach (var input in model.Inputs)
            if (input.Buffer.IsInt) model.SetInput(input.Name, new int[input.Buffer.Elements]);
            else model.SetInput(input.Name, Random((int)input.Buffer.Elements, 1));
        model.Forward();
        var y = model.Read(output);
        Assert.Equal(classes, y.Length);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
        Assert.True(y.Distinct().Count() > 1, "all outputs equal");
    }

    [Fact]
    public void AlexNet_ForwardAtBatch1()
    {
        using var m = new AlexNet(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "logits", 1000);
    }

    [Fact]
    public void Vgg16_ForwardAtBatch1()
    {
        using var m = new Vgg16(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "logits", 1000);
    }

    [Fact]
    public void ResNet18_ForwardAtBatch1()
    {
        using var m = new ResNet18(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "logits", 1000);
    }

    [Fact]
    public void ResNet50_ForwardAtBatch1()
    {
        using var m = new ResNet50(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "logits", 1000);
    }

    [Fact]
    public void AlexNet2012_ForwardAtBatch1()
    {
        using var m = new AlexNet2012(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "logits", 1000);
    }

    [Fact]
    public void YoloV1_ForwardAtBatch1()
    {
        using var m = new YoloV1(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "detections", 7 * 7 * 30);
    }

    [Fact]
    public void AlphaGoZero_ForwardAtBatch1_BothHeads()
    {
        using var m = new AlphaGoZero(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(m, "policy", 362);
        var v = m.Read("value");
        Assert.Single(v);
        Assert.InRange(v[0], -1f, 1f);
    }

    [Fact]
    public void CycleGan_GeneratorAndPatchGan_ForwardAtBatch1()
    {
        using (var g = new CycleGanGenerator(TestDevice.Instance, N: 1, seed: 1))
        {
            ForwardAtBatch1(g, "translated", 3 * 256 * 256);
            Assert.All(g.Read("translated"), v => Assert.InRange(v, -1f, 1f));
        }
        using var d = new PatchGan(TestDevice.Instance, N: 1, seed: 1);
        ForwardAtBatch1(d, "scores", 30 * 30);
    }

    [Fact]
    public void Dqn_MatchesTheReference_AndItsLossFallsOverAFewSteps()
    {
        using var m = new Dqn(TestDevice.Instance, N: 2, seed: 4);
        var frames = Random(2 * 4 * 84 * 84, 2);
        var target = Random(2 * 18, 3);
        m.SetInputs(frames, target);
        m.Forward();

        var ir = NeuroCompiler.Compile("dqn.nd", File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", "dqn.nd"))).Models.Single().Ir;
        var leaves = ir.Graph.Params.ToDictionary(p => p.Id, p => m.Read(p.Name).Select(v => (double)v).ToArray());
        leaves[ir.Graph.Inputs.Single(i => i.Name == "frames").Id] = frames.Select(v => (double)v).ToArray();
        leaves[ir.Graph.Inputs.Single(i => i.Name == "target").Id] = target.Select(v => (double)v).ToArray();
        var reference = ReferenceInterpreter.Run(ir.Graph, new Dictionary<string, long> { ["N"] = 2 }, leaves);
        KernelTests.AssertClose(reference[ir.Graph.Outputs[0].Value], m.Read("q"), "q");

        var adam = new Adam(1e-3f);
        var losses = Enumerable.Range(0, 8).Select(_ => m.TrainStep(adam, frames, target)).ToList();
        Assert.True(losses[^1] < losses[0] * 0.5, $"loss {losses[0]} -> {losses[^1]}");
    }
}
