using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.Training;
using Spectre.Console;

namespace NeuroDsl.Cli;

/// <summary><c>neurodsl train FILE --data fashion-mnist</c>: the main job, with live progress and a final summary.</summary>
internal static class TrainImagesCommand
{
    public static int Run(Args args, string path, ModelOutput output, string? dataDir)
    {
        var epochs = args.Int("epochs", 3);
        var batch = args.Int("batch", 64);
        var seed = (ulong)args.Int("seed", 1);
        var optimizerName = args.Get("optimizer") ?? "adam";
        var lr = args.Double("lr", optimizerName == "adam" ? 1e-3 : 0.05);
        var momentum = args.Get("momentum") is { } m ? double.Parse(m, CultureInfo.InvariantCulture) : 0.9;
        var checkpoint = args.Get("checkpoint") ?? Path.Combine("checkpoints", Path.GetFileNameWithoutExtension(path) + ".safetensors");
        var resume = args.Get("resume");
        var metricsPath = args.Get("metrics");
        var limit = args.Get("limit") is null ? (int?)null : args.Int("limit", 1);
        var schedule = args.Get("schedule") ?? "constant";
        var checkNumerics = args.Has("check-numerics");
        using var distributed = DistributedRun.FromArgs(args);
        args.CheckUnknown();
        var root = distributed?.IsRoot ?? true;
        var localBatch = distributed?.LocalBatch(batch) ?? batch;
        Func<int, float, float> lrSchedule = schedule switch
        {
            "constant" => (_, r) => r,
            "step" => (e, r) => r * MathF.Pow(0.5f, (e - 1) / 2), // halve every two epochs
            "cosine" => (e, r) => r * 0.5f * (1 + MathF.Cos(MathF.PI * (e - 1) / epochs)),
            _ => throw new UsageException($"unknown --schedule '{schedule}' (constant, step, cosine)"),
        };
        Optimizer optimizer = optimizerName switch
        {
            "adam" => new Adam((float)lr),
            "sgd" => new Sgd((float)lr, (float)momentum),
            _ => throw new UsageException($"unknown optimizer '{optimizerName}' (adam, sgd)"),
        };

        var image = output.Ir.Graph.Inputs.FirstOrDefault(i => i.DType == Compiler.Ir.DType.F32);
        if (image is null || image.Shape.Rank != 4 || !image.Shape[2].IsConstant || image.Shape[2] != image.Shape[3])
            throw new UsageException($"{output.Name} does not take square images [N, 1, S, S]; fashion-mnist needs one");
        if (image.Shape[1] != (Compiler.Ir.Dim)1)
            throw new UsageException($"{output.Name} takes images of {image.Shape[1]} channels [N, {image.Shape[1]}, {image.Shape[2]}, "
                + $"{image.Shape[3]}]; fashion-mnist has one (grey) channel, so it needs a model of [N, 1, S, S]");
        var size = (int)image.Shape[2].Coef;
        // Fashion-MNIST's 28×28 images are padded to a larger square; a smaller one cannot hold them.
        if (size < 28)
            throw new UsageException($"{output.Name} takes {size}×{size} images [N, 1, {size}, {size}]; fashion-mnist's are 28×28 "
                + "and are padded, never cropped, so it needs a model of [N, 1, S, S] with S ≥ 28");

        // Load the data on another thread while Roslyn compiles the model and OpenCL builds its program.
        var data = Task.Run(() => FashionMnist.Load(dataDir, size));
        var type = ModelLoader.Compile(output);
        using var device = Device.Open();
        using var train = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = localBatch }, seed, checkNumerics);
        var (trainSet, testSet) = data.GetAwaiter().GetResult();
        if (limit is { } n) trainSet = trainSet.Take(n);
        var evalBatch = Enumerable.Range(1, Math.Min(1000, testSet.Count)).Reverse().First(b => testSet.Count % b == 0);
        using var eval = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = evalBatch }, seed, checkNumerics);
        var firstEpoch = 1;
        long resumedSteps = 0;
        if (resume is not null)
        {
            var position = Checkpoint.Load(resume, train, optimizer)
                           ?? throw new InvalidDataException($"{resume} holds weights but no training position; it cannot be resumed");
            if (position.Seed != seed) Console.Error.WriteLine($"note: {resume} was trained with --seed {position.Seed}; continuing with {seed}");
            firstEpoch = position.EpochsDone + 1;
            resumedSteps = position.Steps;
        }
        // After a resume, so that every rank starts from rank 0's weights whatever it loaded.
        var parallel = distributed?.Wrap(train);
        var trainer = new Trainer(train, eval, optimizer, trainSet, testSet, seed, parallel) { Schedule = lrSchedule };
        trainer.Resume(resumedSteps);

        var interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected && distributed is null;
        // Markup on a terminal; plain, unwrapped text when the output goes to a file or a pipe.
        void Say(string markup)
        {
            if (!root) return;
            if (interactive) AnsiConsole.MarkupLine(markup);
            else Console.Out.WriteLine(Markup.Remove(markup));
        }
        Say($"[bold]{Markup.Escape(output.Name)}[/] ({output.Ir.Graph.TrainableParameterCount:N0} parameters) on [bold]{Markup.Escape(device.Info.Name)}[/]");
        if (parallel is not null)
            Say($"distributed: {parallel.Size} ranks ({(parallel.Size > 1 ? "Open MPI" : "one process: not started by mpirun")}), "
                + $"global batch {batch} = {parallel.Size} × {localBatch}; {parallel.Buckets.Count} gradient buckets, "
                + $"{parallel.PayloadBytesPerStep:N0} bytes reduced per step{(parallel.Overlap ? ", overlapped with backward" : "")}");
        Say($"fashion-mnist: {trainSet.Count:N0} training, {testSet.Count:N0} test images, {size}×{size}, scaled to [[0, 1]]; batch {batch}, {optimizerName} lr {lr.ToString(CultureInfo.InvariantCulture)} ({schedule}), seed {seed}");
        var results = new List<EpochMetrics>();
        for (var epoch = firstEpoch; epoch <= epochs; epoch++)
        {
            EpochMetrics metrics;
            if (interactive)
            {
                metrics = null!;
                AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"epoch {epoch}/{epochs}", maxValue: trainSet.Count / batch);
                        var e = epoch;
                        metrics = trainer.RunEpoch(epoch, (float)lr, (b, total, loss) =>
                        {
                            task.Value = b;
                            if (b % 20 == 0) task.Description = $"epoch {e}/{epochs}  loss {loss:F4}";
                        });
                    });
            }
            else
            {
                var e = epoch;
                metrics = trainer.RunEpoch(epoch, (float)lr, (b, total, loss) =>
                {
                    distributed?.AfterStep(trainer.Steps);
                    if (root && b % Math.Max(1, total / 4) == 0) Console.Out.WriteLine($"  epoch {e}: batch {b}/{total}  loss {loss.ToString("F4", CultureInfo.InvariantCulture)}");
                });
            }
            results.Add(metrics);
            Say($"epoch {metrics.Epoch}/{epochs}  train loss {metrics.TrainLoss:F4}  test loss {metrics.TestLoss:F4}  " +
                                   $"test accuracy [bold]{metrics.TestAccuracy * 100:F2}%[/]  {metrics.ExamplesPerSecond:N0} examples/s  {metrics.Seconds:F1} s");
            if (!root) continue;
            Checkpoint.Save(checkpoint, train, optimizer, new TrainingPosition(epoch, trainer.Steps, seed, train.StepIndex));
            if (metricsPath is not null) WriteMetrics(metricsPath, output.Name, results, batch, optimizerName, lr, seed, parallel?.Size ?? 1);
        }

        if (results.Count > 0)
        {
            var table = new Table().AddColumns("epoch", "train loss", "test loss", "test accuracy", "examples/s", "seconds");
            foreach (var r in results)
                table.AddRow(r.Epoch.ToString(CultureInfo.InvariantCulture), r.TrainLoss.ToString("F4", CultureInfo.InvariantCulture),
                    r.TestLoss.ToString("F4", CultureInfo.InvariantCulture), (r.TestAccuracy * 100).ToString("F2", CultureInfo.InvariantCulture) + "%",
                    r.ExamplesPerSecond.ToString("N0", CultureInfo.InvariantCulture), r.Seconds.ToString("F1", CultureInfo.InvariantCulture));
            if (interactive) AnsiConsole.Write(table);
            else if (root)
            {
                Console.Out.WriteLine("| epoch | train loss | test loss | test accuracy | examples/s | seconds |");
                Console.Out.WriteLine("| --- | --- | --- | --- | --- | --- |");
            }
            if (!interactive && root)
                foreach (var r in results)
                    Console.Out.WriteLine($"| {r.Epoch} | {r.TrainLoss.ToString("F4", CultureInfo.InvariantCulture)} | {r.TestLoss.ToString("F4", CultureInfo.InvariantCulture)} | " +
                                          $"{(r.TestAccuracy * 100).ToString("F2", CultureInfo.InvariantCulture)}% | {r.ExamplesPerSecond.ToString("F0", CultureInfo.InvariantCulture)} | {r.Seconds.ToString("F1", CultureInfo.InvariantCulture)} |");
            Say($"test accuracy after {results[^1].Epoch} epochs: [bold green]{results[^1].TestAccuracy * 100:F2}%[/]");
        }
        else Say($"nothing to do: the checkpoint already has {firstEpoch - 1} epochs");
        Say($"checkpoint: [bold]{Markup.Escape(Path.GetFullPath(checkpoint))}[/] (safetensors; resume with --resume)");
        distributed?.Finish();
        return ExitCodes.Ok;
    }

    private static void WriteMetrics(string path, string model, List<EpochMetrics> results, int batch, string optimizer, double lr, ulong seed,
        int ranks)
    {
        var doc = new
        {
            model,
            batch,
            ranks,
            optimizer,
            learning_rate = lr,
            seed,
            epochs = results.Select(r => new
            {
                epoch = r.Epoch,
                train_loss = r.TrainLoss,
                test_loss = r.TestLoss,
                test_accuracy = r.TestAccuracy,
                examples_per_second = r.ExamplesPerSecond,
                seconds = r.Seconds,
                learning_rate = r.LearningRate,
                step_losses = r.StepLosses,
            }),
        };
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
