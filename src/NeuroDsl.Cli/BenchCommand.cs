using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli;

/// <summary>
/// <c>neurodsl bench step FILE [--batch B] [--steps S]</c>: the median time of a training step (upload, forward,
/// backward, Adam, loss read-back) and of a forward pass, on random inputs, after warm-up. Not part of the tests.
/// </summary>
internal static class BenchCommand
{
    public static int Run(Args args)
    {
        var batch = args.Int("batch", 64);
        var steps = args.Int("steps", 30);
        var modelName = args.Get("model");
        args.CheckUnknown();
        if (args.Positional.Count != 2 || args.Positional[0] != "step") throw new UsageException("usage: neurodsl bench step FILE [--batch B] [--steps S]");
        var path = args.Positional[1];
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        using var model = ModelLoader.Create(type, device, new Dictionary<string, long> { ["N"] = batch }, seed: 1);
        var rng = new Random(1);
        var inputs = model.Inputs.Select(i => (i, i.Buffer.IsInt
            ? (object)Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => rng.Next(2)).ToArray()
            : Enumerable.Range(0, (int)i.Buffer.Elements).Select(_ => (float)rng.NextDouble()).ToArray())).ToList();
        var adam = new Adam();
        double Time(Action action)
        {
            var samples = new List<double>();
            for (var s = 0; s < steps + 3; s++)
            {
                var start = Stopwatch.GetTimestamp();
                action();
                if (s >= 3) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            samples.Sort();
            return samples[samples.Count / 2];
        }
        void Upload()
        {
            foreach (var (t, data) in inputs)
                if (data is int[] ints) model.SetInput(t.Name, ints);
                else model.SetInput(t.Name, (float[])data);
        }
        var train = Time(() =>
        {
            Upload();
            model.Forward();
            model.Backward();
            model.Step(adam);
            model.ReadLoss();
        });
        model.Training = false;
        var forward = Time(() =>
        {
            Upload();
            model.Forward();
            device.Finish();
        });
        var launches = output.Plan.Forward.Count + output.Plan.Backward.Count(l => !l.InputGradientOnly) + 1;
        Console.Out.WriteLine($"{output.Name} batch {batch} on {device.Info.Name}: training step {train.ToString("F2", CultureInfo.InvariantCulture)} ms " +
                              $"({batch / train * 1000:F0} examples/s, {launches} launches), forward {forward.ToString("F2", CultureInfo.InvariantCulture)} ms (median of {steps})");
        return ExitCodes.Ok;
    }
}
