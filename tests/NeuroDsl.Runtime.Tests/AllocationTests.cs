using System;
using System.Linq;
using NeuroDsl.Models;
using Xunit;

namespace NeuroDsl.Runtime.Tests;

/// <summary>Once warm, a training step and an inference pass allocate nothing on the managed heap.</summary>
public sealed class AllocationTests
{
    [Theory]
    [InlineData("Mlp")]
    [InlineData("LeNet5")]
    [InlineData("TransformerEncoderLayer")]
    public void TrainingSteps_AndForwardPasses_AllocateNothing(string name)
    {
        var device = TestDevice.Instance;
        using CompiledModel model = name switch
        {
            "Mlp" => new Mlp(device, N: 8, seed: 3),
            "LeNet5" => new LeNet5(device, N: 4, seed: 3),
            _ => new TransformerEncoderLayer(device, N: 2, T: 16, seed: 3),
        };
        var rng = new Random(2);
        var inputs = model.Inputs.Select(i => (i.Name, Data: i.Buffer.IsInt
            ? (object)Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => rng.Next(2)).ToArray()
            : Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray())).ToArray();
        var adam = new Adam();
        void Upload()
        {
            foreach (var (input, data) in inputs)
                if (data is int[] ints) model.SetInput(input, ints);
                else model.SetInput(input, (float[])data);
        }
        void Step()
        {
            Upload();
            model.Forward();
            model.Backward();
            model.Step(adam);
            model.ReadLoss();
        }
        for (var i = 0; i < 3; i++) Step();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10; i++) Step();
        var steps = GC.GetAllocatedBytesForCurrentThread() - before;

        model.Training = false;
        model.ComputeLoss = false;
        model.Forward();
        before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10; i++)
        {
            Upload();
            model.Forward();
        }
        var forwards = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(steps == 0 && forwards == 0, $"{name}: 10 training steps allocated {steps} bytes, 10 forward passes {forwards}");
    }
}
