using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Training;

namespace NeuroDsl.Cli;

/// <summary><c>neurodsl train</c>: compile a model file, instantiate it on the device and train it on a data set.</summary>
internal static class TrainCommand
{
    public static int Run(Args args)
    {
        var modelName = args.Get("model");
        var dataName = args.Get("data") ?? throw new UsageException("train needs --data (fashion-mnist, xor, blobs, fortunes or text:PATH)");
        if (TextTrainCommand.Load(dataName) is { } text) return TextTrainCommand.Run(args, text);
        if (dataName == "fashion-mnist" || System.IO.Directory.Exists(dataName))
        {
            // --data DIR: a directory with the four Fashion-MNIST (or MNIST-format) IDX files.
            var dataDir = dataName == "fashion-mnist" ? args.Get("data-dir") : dataName;
            if (args.Positional.Count != 1) throw new UsageException("expected one FILE");
            var compiled = Program.CompileFile(args.Positional[0]);
            if (compiled is null) return ExitCodes.DataError;
            return TrainImagesCommand.Run(args, args.Positional[0], Program.PickModel(compiled, modelName, args.Positional[0]), dataDir);
        }
        var seed = (ulong)args.Int("seed", 1);
        var optimizerName = args.Get("optimizer") ?? "sgd";
        var lr = args.Double("lr", optimizerName == "adam" ? 1e-3 : 0.5);
        var momentum = args.Get("momentum") is { } m ? double.Parse(m, CultureInfo.InvariantCulture) : 0.9;
        var epochs = args.Get("epochs") is null ? (int?)null : args.Int("epochs", 1);
        var batchArg = args.Get("batch") is null ? (int?)null : args.Int("batch", 1);
        var checkNumerics = args.Has("check-numerics");
        args.CheckUnknown();
        if (args.Positional.Count != 1) throw new UsageException("expected one FILE");
        var path = args.Positional[0];

        var data = dataName switch
        {
            "xor" => SmallDataSet.Xor(),
            "blobs" => SmallDataSet.Blobs(40, seed),
            _ => throw new UsageException($"unknown data set '{dataName}' (fashion-mnist, xor, blobs)"),
        };
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var output = Program.PickModel(result, modelName, path);
        if (output.Plan.Loss is null) throw new UsageException($"{output.Name} declares no loss, so it cannot be trained");
        var batch = batchArg ?? data.Count;
        if (data.Count % batch != 0) throw new UsageException($"--batch must divide the data set size {data.Count}");

        Optimizer optimizer = optimizerName switch
        {
            "sgd" => new Sgd((float)lr, (float)momentum),
            "adam" => new Adam((float)lr),
            _ => throw new UsageException($"unknown optimizer '{optimizerName}' (sgd, adam)"),
        };
        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        Console.Out.WriteLine($"{output.Name}: {output.Ir.Graph.TrainableParameterCount} parameters, {data.Name} ({data.Count} examples), batch {batch}, {optimizerName} lr {lr.ToString(CultureInfo.InvariantCulture)} on {device}");
        using var model = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = batch }, seed, checkNumerics);
        using var eval = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = data.Count }, seed, checkNumerics);

        var inputs = model.Inputs.Select(i => i.Name).ToList();
        if (inputs.Count != 2) throw new UsageException($"{output.Name} takes {inputs.Count} inputs; the {data.Name} set provides features and a target");
        // The set's rows are [features] and a scalar target per example: the model's inputs must take exactly that.
        var perExample = model.Inputs.Select(i => i.Shape.Skip(1).Aggregate(1L, (a, d) => a * d)).ToList();
        if (perExample[0] != data.Features || perExample[1] != 1)
            throw new UsageException($"{output.Name} takes inputs [{string.Join(", ", model.Inputs.Select(i => "[" + string.Join(", ", i.Shape.Skip(1)) + "]"))}] per example; "
                + $"the {data.Name} set has {data.Features} features and one target (use a dense model such as models/xor_mlp.nd or models/perceptron.nd)");
        var outputName = output.Plan.Outputs[0].Name;
        var maxEpochs = epochs ?? 1000;
        var watch = Stopwatch.StartNew();
        var rng = new SplitMix64(seed);
        var order = Enumerable.Range(0, data.Count).ToArray();
        var features = new float[batch * data.Features];
        var targets = new float[batch];
        float loss = 0;
        double accuracy = 0;
        var solvedAt = 0;
        var steps = 0L;
        for (var epoch = 1; epoch <= maxEpochs; epoch++)
        {
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
                    Array.Copy(data.X, e * data.Features, features, b * data.Features, data.Features);
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
            eval.SetInput(inputs[0], data.X);
            eval.SetInput(inputs[1], data.Y);
            eval.Forward();
            accuracy = data.Accuracy(eval.Read(outputName));
            var firstSolved = accuracy >= 1.0 && solvedAt == 0;
            if (firstSolved) solvedAt = epoch;
            if (epoch == 1 || epoch % 100 == 0 || firstSolved || epoch == maxEpochs)
                Console.Out.WriteLine($"epoch {epoch,4}  loss {loss.ToString("F6", CultureInfo.InvariantCulture)}  accuracy {(accuracy * 100).ToString("F1", CultureInfo.InvariantCulture)}%");
            if (epochs is null && accuracy >= 1.0) break;
        }
        Console.Out.WriteLine($"done in {watch.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s: accuracy {(accuracy * 100).ToString("F1", CultureInfo.InvariantCulture)}%");
        return ExitCodes.Ok;
    }
}
