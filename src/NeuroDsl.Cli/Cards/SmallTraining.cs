using System;
using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Training;

namespace NeuroDsl.Cli.Cards;

/// <summary>Trains a dense classic (perceptron, XOR) on a small set until every example is right, for the card's plots.</summary>
public static class SmallTraining
{
    /// <summary>
    /// Returns the epochs taken and the final weights by name; <paramref name="after"/> sees the model after each step.
    /// Training stops when every example is right and the loss over the set is at most <paramref name="solvedLoss"/>.
    /// </summary>
    public static (int Epochs, Dictionary<string, float[]> Weights) Run(ModelOutput output, Device device, SmallDataSet data, int batch,
        Optimizer optimizer, int maxEpochs, ulong seed, Action<CompiledModel>? after, float solvedLoss = float.PositiveInfinity)
    {
        var type = ModelLoader.Compile(output);
        using var model = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = batch }, seed);
        using var eval = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = data.Count }, seed);
        var inputs = model.Inputs.Select(i => i.Name).ToList();
        var outputName = output.Plan.Outputs[0].Name;
        var rng = new SplitMix64(seed);
        var order = Enumerable.Range(0, data.Count).ToArray();
        var features = new float[batch * data.Features];
        var targets = new float[batch];
        var epoch = 0;
        while (epoch < maxEpochs)
        {
            epoch++;
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            for (var start = 0; start < data.Count; start += batch)
            {
                for (var b = 0; b < batch; b++)
                {
                    Array.Copy(data.X, order[start + b] * data.Features, features, b * data.Features, data.Features);
                    targets[b] = data.Y[order[start + b]];
                }
                model.SetInput(inputs[0], features);
                model.SetInput(inputs[1], targets);
                model.Forward();
                model.Backward();
                model.Step(optimizer);
                if (!float.IsFinite(model.ReadLoss()))
                    throw new NumericsException($"{output.Name}: the loss became {model.ReadLoss()} while training for the card");
                after?.Invoke(model);
            }
            eval.CopyParametersFrom(model);
            eval.SetInput(inputs[0], data.X);
            eval.SetInput(inputs[1], data.Y);
            eval.Forward();
            // Solved: every example on the right side, and (for XOR, whose outputs may sit at 0.5 ± ε) the loss low.
            if (data.Accuracy(eval.Read(outputName)) >= 1.0 && eval.ReadLoss() <= solvedLoss) break;
        }
        return (epoch, model.Parameters.ToDictionary(p => p.Name, p => model.Read(p.Name)));
    }
}
