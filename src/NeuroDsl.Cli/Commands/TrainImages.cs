using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using NeuroDsl.Cli.Data;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Checkpoints;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.OpenCl;
using NeuroDsl.Runtime.Training;
using Spectre.Console;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// Training a classifier on an image set, with live progress and a final table. The data is loaded and checked
/// against the model (shapes side by side, classes, counts) before anything is compiled for the device.
/// </summary>
internal static class TrainImages
{
    public static int Run(TrainOptions o, ModelOutput output)
    {
        // Compiling the model's C# (or loading it from the assembly cache) and opening the device need nothing from the
        // data, so they run while it loads and is checked: on a warm start that hides most of the 0.5–0.9 s Fashion-MNIST
        // takes. Nothing of theirs is shown before the data has passed its checks.
        var compiling = Task.Run(() => ModelLoader.Compile(output));
        var opening = Task.Run(() => Device.Open());
        ImageSets sets;
        try
        {
            sets = LoadFor(o, output);
        }
        catch
        {
            opening.ContinueWith(t => t.Result.Dispose(), TaskContinuationOptions.OnlyOnRanToCompletion);
            throw;
        }
        using var device = opening.GetAwaiter().GetResult();
        var type = compiling.GetAwaiter().GetResult();
        var epochs = o.Epochs ?? 3;
        var batch = o.Batch ?? 64;
        var optimizerName = o.Optimizer ?? "adam";
        var lr = o.LearningRate ?? (optimizerName == "adam" ? 1e-3 : 0.05);
        var checkpoint = o.Checkpoint ?? Path.Combine("checkpoints", Path.GetFileNameWithoutExtension(o.Path) + ".safetensors");
        Optimizer optimizer = optimizerName == "adam" ? new Adam((float)lr) : new Sgd((float)lr, (float)o.Momentum);
        var (trainSet, testSet) = (sets.Train, sets.Test);
        if (o.Limit is { } n) trainSet = trainSet.Take(n);
        if (o.TestLimit is { } t) testSet = testSet.Take(t);
        if (batch > trainSet.Count)
            throw new UsageException($"--batch {batch} is more than the {CommandLine.Count(trainSet.Count, "training example")}"
                + (o.Limit is null ? "" : $" (--limit {o.Limit})") + $"; use --batch {trainSet.Count} or less" + (o.Limit is null ? "" : " or a larger --limit"));
        var evalBatch = EvalBatch(output, batch, testSet.Count);
        using var distributed = DistributedRun.Start(o.Distributed, o.Timeout, o.BucketKb, o.NoOverlap);
        var root = distributed?.IsRoot ?? true;
        var localBatch = distributed?.LocalBatch(batch) ?? batch;

        using var train = ModelLoader.Create(output, type, device, new Dictionary<string, long> { ["N"] = localBatch }, o.Seed, o.CheckNumerics);
        // The evaluation model is made when the first evaluation needs it, not before the first step (Trainer); whether
        // it fits the device is known now.
        var evalSymbols = new Dictionary<string, long> { ["N"] = evalBatch };
        ModelLoader.CheckFits(output, device, evalSymbols);
        using var eval = new Deferred<CompiledModel>(() => ModelLoader.Create(output, type, device, evalSymbols, o.Seed, o.CheckNumerics));

        var firstEpoch = 1;
        long resumedSteps = 0;
        if (o.Resume is not null)
        {
            var position = Checkpoint.Load(o.Resume, train, optimizer)
                           ?? throw new InvalidDataException($"{o.Resume} holds weights but no training position; it cannot be resumed");
            if (position.Seed != o.Seed && root) Console.Error.WriteLine($"note: {o.Resume} was trained with --seed {position.Seed}; continuing with {o.Seed}");
            firstEpoch = position.EpochsDone + 1;
            resumedSteps = position.Steps;
        }
        // After a resume, so that every rank starts from rank 0's weights whatever it loaded.
        var parallel = distributed?.Wrap(train);
        var trainer = new Trainer(train, evalBatch, () => eval.Value, optimizer, trainSet, testSet, o.Seed, parallel) { Schedule = TrainCommand.Schedule(o.Schedule, epochs) };
        trainer.Resume(resumedSteps);
        if (firstEpoch > epochs)
        {
            if (root)
                Console.Out.WriteLine($"nothing to do: {o.Resume} already has {CommandLine.Count(firstEpoch - 1, "epoch")} (--epochs {epochs}); "
                    + "raise --epochs to go on");
            distributed?.Finish();
            return ExitCodes.Ok;
        }

        var interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected && distributed is null;
        // Markup on a terminal; plain, unwrapped text when the output goes to a file or a pipe. Only rank 0 speaks.
        void Say(string markup)
        {
            if (!root) return;
            if (interactive) AnsiConsole.MarkupLine(markup);
            else Console.Out.WriteLine(Markup.Remove(markup));
        }
        Say($"[bold]{Markup.Escape(output.Name)}[/] ({output.Ir.Graph.TrainableParameterCount:N0} parameters) on [bold]{Markup.Escape(device.Info.Name)}[/]");
        if (parallel is not null)
            Say(Markup.Escape($"distributed: {CommandLine.Count(parallel.Size, "rank")} ({(parallel.Size > 1 ? "Open MPI" : "one process: not started by mpirun")}), "
                + $"global batch {batch} = {parallel.Size} × {localBatch}; {CommandLine.Count(parallel.Buckets.Count, "gradient bucket")}, "
                + $"{parallel.PayloadBytesPerStep:N0} bytes reduced per step{(parallel.Overlap ? ", overlapped with backward" : "")}"));
        Say(Markup.Escape($"{sets.Name}: {trainSet.Count:N0} training, {testSet.Count:N0} test images, {trainSet.Transform.Describe()}, scaled to [0, 1]; "
            + $"batch {batch}, {optimizerName} lr {lr.ToString(CultureInfo.InvariantCulture)} ({o.Schedule}), seed {o.Seed}"));
        var results = new List<EpochMetrics>();
        using var firstStep = new FirstStep(ProgramCache.IsPocl(device.Info) && !ProgramCache.KeepsBinaries(device.Info));
        for (var epoch = firstEpoch; epoch <= epochs; epoch++)
        {
            var first = epoch == firstEpoch ? firstStep : null;
            results.Add(interactive ? EpochWithBar(trainer, epoch, epochs, (float)lr, trainSet.Count / batch, first)
                : EpochInLines(trainer, epoch, (float)lr, distributed, first));
            var m = results[^1];
            Say($"epoch {m.Epoch}/{epochs}  train loss {m.TrainLoss:F4}  test loss {m.TestLoss:F4}  " +
                $"test accuracy [bold]{m.TestAccuracy * 100:F2}%[/]  {m.ExamplesPerSecond:N0} examples/s  {m.Seconds:F1} s");
            if (first is { Done: true }) Say(Markup.Escape(first.Describe()));
            if (!root) continue;
            OutputFiles.Guard(checkpoint, () => Checkpoint.Save(checkpoint, train, optimizer, new TrainingPosition(epoch, trainer.Steps, o.Seed, train.StepIndex)));
            if (o.Metrics is not null) WriteMetrics(o.Metrics, output.Name, results, batch, optimizerName, lr, o.Seed, parallel?.Size ?? 1);
        }
        if (root) Table(results, interactive);
        Say($"test accuracy after {CommandLine.Count(results[^1].Epoch, "epoch")}: [bold green]{results[^1].TestAccuracy * 100:F2}%[/]"
            + (testSet.Count < sets.Test.Count ? $" (on {testSet.Count:N0} of {sets.Test.Count:N0} test images)" : ""));
        Say($"checkpoint: [bold]{Markup.Escape(Path.GetFullPath(checkpoint))}[/] (safetensors; resume with --resume)");
        distributed?.Finish();
        return ExitCodes.Ok;
    }

    /// <summary>Loads the set fitted to the model, refusing a model it cannot feed (both shapes in the message).</summary>
    internal static ImageSets LoadFor(TrainOptions o, ModelOutput output)
    {
        ImageShape? target = null;
        var sets = ImageSets.Load(o.Data, o.DataDir, o.Labels, native =>
        {
            var shown = native.Height == 0 ? "images" : $"{native} images";
            var (image, _, _) = ModelInputs.Classifier(output, o.Data, $"{shown} and a label");
            var shape = ModelInputs.TargetShape(output, image, native, o.Data);
            if (native.Height == 1 && native.Elements != shape.Elements)
                throw new UsageException($"{output.Name} takes {ModelInputs.Describe(output)} per example; {o.Data} gives flat rows of "
                    + $"{native.Width} values, which feed only a flat input of {native.Width}");
            target = shape;
            return shape;
        });
        var (_, _, classes) = ModelInputs.Classifier(output, o.Data, $"{target} images and a label");
        if (sets.Train.Classes > classes)
            throw new UsageException($"{sets.Name} has {sets.Train.Classes} classes (labels 0..{sets.Train.Classes - 1}); {output.Name}'s "
                + $"{output.Plan.Outputs[0].Name} scores {classes}: give the model {sets.Train.Classes} outputs");
        if (sets.Train.Count == 0 || sets.Test.Count == 0) throw new InvalidDataException($"{sets.Name}: no training or no test images");
        return sets;
    }

    /// <summary>
    /// The evaluation batch: the largest divisor of the test count up to 1,000 whose plan is at most twice the
    /// training one's bytes (or 1 GiB), so that evaluating a large model does not need more memory than training it.
    /// </summary>
    private static int EvalBatch(ModelOutput output, int batch, int testCount)
    {
        long Bytes(int b)
        {
            try
            {
                return ModelLoader.PlannedBytes(output.Plan, new Dictionary<string, long> { ["N"] = b });
            }
            catch (OverflowException)
            {
                return long.MaxValue;
            }
        }
        var budget = Math.Max(Bytes(batch) == long.MaxValue ? 0 : 2 * Bytes(batch), 1L << 30);
        for (var b = Math.Min(1000, testCount); b > 1; b--)
            if (testCount % b == 0 && (b <= batch || Bytes(b) <= budget)) return b;
        return 1;
    }

    // What the first step may be doing on PoCL: kernels already in its cache are not compiled again.
    private const string Compiling = " (PoCL compiles kernels not in its cache at their first launch)";

    /// <param name="first">The process's first step, timed, in the first epoch; null in later ones.</param>
    private static EpochMetrics EpochWithBar(Trainer trainer, int epoch, int epochs, float lr, int batches, FirstStep? first)
    {
        EpochMetrics metrics = null!;
        AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"epoch {epoch}/{epochs}", maxValue: batches);
                first?.Start(() => task.Description = $"epoch {epoch}/{epochs}  first step{(first.CompilesAtLaunch ? Compiling : "")}…");
                var test = ctx.AddTask("  test", autoStart: false);
                trainer.EvaluationProgress = (done, total) =>
                {
                    if (!test.IsStarted) test.StartTask();
                    test.MaxValue = total;
                    test.Value = done;
                };
                metrics = trainer.RunEpoch(epoch, lr, (b, _, loss) =>
                {
                    first?.Stepped();
                    if (first is not null && b == 1) task.Description = $"epoch {epoch}/{epochs}";
                    task.Value = b;
                    if (b % 20 == 0) task.Description = $"epoch {epoch}/{epochs}  loss {loss:F4}";
                });
            });
        return metrics;
    }

    private static EpochMetrics EpochInLines(Trainer trainer, int epoch, float lr, DistributedRun? distributed, FirstStep? first)
    {
        var root = distributed?.IsRoot ?? true;
        if (root)
            first?.Start(() => Console.Out.WriteLine($"  epoch {epoch}: first step{(first.CompilesAtLaunch ? Compiling : "")}…"));
        trainer.EvaluationProgress = (done, total) =>
        {
            if (root && total >= 4 && done % Math.Max(1, total / 4) == 0 && done < total) Console.Out.WriteLine($"  epoch {epoch}: test batch {done}/{total}");
        };
        return trainer.RunEpoch(epoch, lr, (b, total, loss) =>
        {
            first?.Stepped();
            distributed?.AfterStep(trainer.Steps);
            if (root && b % Math.Max(1, total / 4) == 0) Console.Out.WriteLine($"  epoch {epoch}: batch {b}/{total}  loss {loss.ToString("F4", CultureInfo.InvariantCulture)}");
        });
    }

    private static void Table(List<EpochMetrics> results, bool interactive)
    {
        string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        if (interactive)
        {
            var table = new Table().AddColumns("epoch", "train loss", "test loss", "test accuracy", "examples/s", "seconds");
            foreach (var r in results)
                table.AddRow(r.Epoch.ToString(CultureInfo.InvariantCulture), F(r.TrainLoss, "F4"), F(r.TestLoss, "F4"),
                    F(r.TestAccuracy * 100, "F2") + "%", F(r.ExamplesPerSecond, "N0"), F(r.Seconds, "F1"));
            AnsiConsole.Write(table);
            return;
        }
        Console.Out.WriteLine("| epoch | train loss | test loss | test accuracy | examples/s | seconds |");
        Console.Out.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var r in results)
            Console.Out.WriteLine($"| {r.Epoch} | {F(r.TrainLoss, "F4")} | {F(r.TestLoss, "F4")} | {F(r.TestAccuracy * 100, "F2")}% | "
                + $"{F(r.ExamplesPerSecond, "F0")} | {F(r.Seconds, "F1")} |");
    }

    private static void WriteMetrics(string path, string model, List<EpochMetrics> results, int batch, string optimizer, double lr, ulong seed,
        int ranks) =>
        WriteJson(path, new
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
        });

    public static void WriteJson(string path, object doc) =>
        OutputFiles.Write(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
}
