using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Training;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// Training on the built-in dense sets (xor, blobs): the whole set in host memory, evaluated on itself after every
/// epoch; without --epochs it stops when every example is right.
/// </summary>
internal static class TrainSmall
{
    public static int Run(TrainOptions o, ModelOutput output)
    {
        var data = o.Data == "xor" ? SmallDataSet.Xor() : SmallDataSet.Blobs(40, o.Seed);
        CheckFits(output, data);
        data = TargetsFor(output, data);
        if (o.Limit is { } limit) data = data.Take(limit);
        var evalSet = o.TestLimit is { } t ? data.Take(t) : data;
        var batch = o.Batch ?? data.Count;
        if (batch > data.Count)
            throw new UsageException($"--batch {batch} is more than the {CommandLine.Count(data.Count, "example")} of {data.Name}"
                + (o.Limit is null ? "" : $" (--limit {o.Limit})") + $"; use --batch {data.Count} or less");
        if (data.Count % batch != 0)
            throw new UsageException($"--batch {batch} does not divide the {data.Count} examples of {data.Name}; use a divisor such as {data.Count}");
        var optimizerName = o.Optimizer ?? "sgd";
        var lr = o.LearningRate ?? (optimizerName == "adam" ? 1e-3 : 0.5);
        Optimizer optimizer = optimizerName == "adam" ? new Adam((float)lr) : new Sgd((float)lr, (float)o.Momentum);
        var maxEpochs = o.Epochs ?? 1000;
        var schedule = TrainCommand.Schedule(o.Schedule, maxEpochs);

        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        Console.Out.WriteLine($"{output.Name}: {output.Ir.Graph.TrainableParameterCount} parameters, {data.Name} "
            + $"({CommandLine.Count(data.Count, "example")}), batch {batch}, {optimizerName} lr {lr.ToString(CultureInfo.InvariantCulture)} on {device}");
        using var model = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = batch }, o.Seed, o.CheckNumerics);
        using var eval = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = evalSet.Count }, o.Seed, o.CheckNumerics);
        var inputs = model.Inputs.Select(i => i.Name).ToList();
        var outputName = output.Plan.Outputs[0].Name;

        var firstEpoch = 1;
        var steps = 0L;
        if (o.Resume is not null)
        {
            var position = Checkpoint.Load(o.Resume, model, optimizer)
                           ?? throw new InvalidDataException($"{o.Resume} holds weights but no training position; it cannot be resumed");
            firstEpoch = position.EpochsDone + 1;
            steps = position.Steps;
        }
        if (firstEpoch > maxEpochs)
        {
            Console.Out.WriteLine($"nothing to do: {o.Resume} already has {CommandLine.Count(firstEpoch - 1, "epoch")}; raise --epochs to go on");
            return ExitCodes.Ok;
        }
        var watch = Stopwatch.StartNew();
        var rng = new SplitMix64(o.Seed);
        var order = Enumerable.Range(0, data.Count).ToArray();
        var features = new float[checked(batch * data.Features)];
        var targets = new float[batch];
        float loss = 0;
        double accuracy = 0;
        var solvedAt = 0;
        var epoch = firstEpoch;
        var history = new List<object>();
        for (; epoch <= maxEpochs; epoch++)
        {
            optimizer.LearningRate = schedule(epoch, (float)lr);
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            for (var start = 0; start < data.Count; start += batch)
            {
                for (var b = 0; b < batch; b++)
                {
                    var e = order[start + b];
                    Array.Copy(data.X, (long)e * data.Features, features, (long)b * data.Features, data.Features);
                    targets[b] = data.Y[e];
                }
                model.SetInput(inputs[0], features);
                model.SetInput(inputs[1], targets);
                model.Forward();
                model.Backward();
                model.Step(optimizer);
                loss = model.ReadLoss();
                steps++;
                // Read back every step already: stop at the first loss that is NaN or infinite.
                if (!float.IsFinite(loss))
                    throw new NumericsException(Trainer.NonFiniteLoss(output.Name, loss, steps, epoch, start / batch + 1, data.Count / batch));
            }
            eval.CopyParametersFrom(model);
            eval.SetInput(inputs[0], evalSet.X);
            eval.SetInput(inputs[1], evalSet.Y);
            eval.Forward();
            accuracy = evalSet.Accuracy(eval.Read(outputName));
            var firstSolved = accuracy >= 1.0 && solvedAt == 0;
            if (firstSolved) solvedAt = epoch;
            history.Add(new { epoch, train_loss = loss, test_accuracy = accuracy, learning_rate = optimizer.LearningRate });
            var last = epoch == maxEpochs || (o.Epochs is null && accuracy >= 1.0);
            if (epoch == firstEpoch || epoch % 100 == 0 || firstSolved || last)
            {
                Console.Out.WriteLine($"epoch {epoch,4}  loss {loss.ToString("F6", CultureInfo.InvariantCulture)}  accuracy {(accuracy * 100).ToString("F1", CultureInfo.InvariantCulture)}%");
                if (o.Checkpoint is not null) Checkpoint.Save(o.Checkpoint, model, optimizer, new TrainingPosition(epoch, steps, o.Seed, model.StepIndex));
            }
            if (last) break;
        }
        if (o.Metrics is not null)
            TrainImages.WriteJson(o.Metrics, new { model = output.Name, data = data.Name, batch, optimizer = optimizerName, learning_rate = lr, seed = o.Seed, epochs = history });
        Console.Out.WriteLine($"done in {watch.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s: accuracy "
            + $"{(accuracy * 100).ToString("F1", CultureInfo.InvariantCulture)}% after {CommandLine.Count(Math.Min(epoch, maxEpochs), "epoch")}");
        if (o.Checkpoint is not null) Console.Out.WriteLine($"checkpoint: {Path.GetFullPath(o.Checkpoint)} (resume with --resume)");
        return ExitCodes.Ok;
    }

    /// <summary>Refuses, before anything is built, a model whose inputs are not [F] features and a one-value target.</summary>
    private static void CheckFits(ModelOutput output, SmallDataSet data)
    {
        var inputs = output.Ir.Graph.Inputs.ToList();
        var perExample = inputs.Select(i => i.Shape.Rank < 2 || i.Shape.Dims.Skip(1).Any(d => !d.IsConstant) ? -1
            : i.Shape.Dims.Skip(1).Aggregate(1L, (a, d) => checked(a * d.Coef))).ToList();
        if (inputs.Count == 2 && inputs.All(i => i.DType == DType.F32) && perExample[0] == data.Features && perExample[1] == 1) return;
        throw new UsageException($"{output.Name} takes {Data.ModelInputs.Describe(output)} per example; {data.Name} gives x f32[{data.Features}], "
            + "target f32[1]: use a dense model such as models/xor_mlp.nd or models/perceptron.nd"
            + (inputs.Any(i => i.DType == DType.I32) ? ", or an image set (--data fashion-mnist) for a classifier" : ""));
    }

    /// <summary>
    /// blobs' targets are ±1 (Rosenblatt's); a loss other than the perceptron criterion (mse after a sigmoid, bce)
    /// takes 0/1, so they are given as 0/1, with a note.
    /// </summary>
    private static SmallDataSet TargetsFor(ModelOutput output, SmallDataSet data)
    {
        var graph = output.Ir.Graph;
        if (data.Name != "blobs" || graph.LossId is not { } id || graph[id].Op == "perceptron") return data;
        Console.Error.WriteLine($"note: blobs' targets are ±1 for the perceptron criterion; {output.Name}'s loss is {graph[id].Op}, "
            + "so they are given as 0 and 1");
        return data.AsZeroOne();
    }
}
