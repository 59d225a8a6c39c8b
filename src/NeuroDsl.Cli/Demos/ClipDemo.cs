using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NeuroDsl.Cli.Cards;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// Radford et al. 2021's contrastive pre-training on a small paired task (models/clip_fmnist.nd): Fashion-MNIST images,
/// each paired with a caption drawn afresh every epoch from its label's templates and names (<see cref="ClipCaptions"/>),
/// trained with the symmetric cross-entropy over the batch; then zero-shot classification of the test set from text
/// alone (one prompt per class, and prompts ensembled over templates and names as CLIP does) and retrieval between the
/// test images and every caption.
/// </summary>
internal static class ClipDemo
{
    public const string Model = "ClipFashionMnist";
    private const int EvalBatchLimit = 500;

    public static DemoFigures Run(string path, DemoOptions o, TextWriter log)
    {
        using var setup = new DemoSetup(path, o, defaultLimit: 60_000, defaultTestLimit: 10_000);
        var (epochs, batch) = (o.Epochs ?? 3, o.Batch ?? 128);
        var (trainSet, testSet) = (setup.TrainSet, setup.TestSet);
        if (batch < 2) throw new UsageException($"--batch {batch}: a contrastive batch needs at least 2 pairs");
        if (batch > trainSet.Count) throw new UsageException($"--batch {batch} is more than the {trainSet.Count} training images");
        CheckShapes(setup.Model(Model), batch, path);
        using var train = setup.Create(Model, batch, o.Seed);
        var evalBatch = Enumerable.Range(1, Math.Min(EvalBatchLimit, testSet.Count)).Reverse().First(b => testSet.Count % b == 0);
        using var eval = setup.Create(Model, evalBatch, o.Seed);
        var optimizer = new Adam(1e-3f);
        var pool = Enumerable.Range(0, ClipCaptions.Classes).SelectMany(k => ClipCaptions.Of(k).Select(c => (Caption: c, Label: k))).ToArray();
        log.WriteLine($"CLIP (Radford et al. 2021) on Fashion-MNIST with generated captions: {trainSet.Count:N0} training and {testSet.Count:N0} test "
            + $"images, {ClipCaptions.Templates.Length} templates × 3-4 names per class ({pool.Length} captions, {ClipCaptions.Vocabulary} word "
            + $"tokens), batch {batch}, {epochs} epochs, Adam 0.001 with a cosine schedule, seed {o.Seed}, on {setup.Device.Info.Name}");

        var batches = trainSet.Count / batch;
        var totalSteps = epochs * batches;
        var every = Math.Max(1, batches / 5);
        var (images, tokens, eot, labels) = (new float[batch * trainSet.ImageSize], new int[batch * ClipCaptions.Context], new int[batch],
            new int[batch]);
        var rng = new SplitMix64(o.Seed * 0x9E3779B97F4A7C15UL + 1);
        var watch = Stopwatch.StartNew();
        var (lossX, lossY, floorY, accX, singleY, ensembleY) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(),
            new List<double>(), new List<double>());
        ClipEvaluation? last = null;
        var (windowLoss, windowFloor, windowSteps, step) = (0.0, 0.0, 0, 0);
        var order = Enumerable.Range(0, trainSet.Count).ToArray();
        for (var epoch = 1; epoch <= epochs; epoch++)
        {
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            for (var b = 0; b < batches; b++)
            {
                for (var r = 0; r < batch; r++)
                {
                    var index = order[b * batch + r];
                    labels[r] = trainSet.Labels[index];
                    trainSet.Images.AsSpan(index * trainSet.ImageSize, trainSet.ImageSize).CopyTo(images.AsSpan(r * trainSet.ImageSize));
                    eot[r] = ClipCaptions.Encode(ClipCaptions.Random(labels[r], n => rng.NextInt(n)), tokens.AsSpan(r * ClipCaptions.Context, ClipCaptions.Context));
                }
                optimizer.LearningRate = (float)(1e-3 * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps)));
                train.SetInput("image", images);
                train.SetInput("text", tokens);
                train.SetInput("eot", eot);
                train.Forward();
                train.Backward();
                train.Step(optimizer);
                step++;
                var loss = train.ReadLoss();
                if (!float.IsFinite(loss)) throw new NumericsException($"the contrastive loss became {loss} at step {step}; training stopped");
                windowLoss += loss;
                windowFloor += Floor(labels);
                windowSteps++;
                if (step % every != 0 && b != batches - 1) continue;
                var scale = Math.Exp(train.Read("logit_scale")[0]);
                lossX.Add((double)step / batches);
                lossY.Add(windowLoss / windowSteps);
                floorY.Add(windowFloor / windowSteps);
                log.WriteLine($"  epoch {epoch} step {b + 1,5}/{batches}: contrastive loss {windowLoss / windowSteps:F4} (floor for the batches' duplicate "
                    + $"classes {windowFloor / windowSteps:F4}), logit scale {scale:F2}, {step * (double)batch / watch.Elapsed.TotalSeconds:F0} pairs/s");
                (windowLoss, windowFloor, windowSteps) = (0, 0, 0);
            }
            eval.CopyParametersFrom(train);
            last = ClipEvaluation.Run(eval, testSet, pool, batch, (float)Math.Exp(Math.Min(train.Read("logit_scale")[0], Math.Log(100))), o.Seed);
            accX.Add(epoch);
            singleY.Add(last.ZeroShotSingle * 100);
            ensembleY.Add(last.ZeroShotEnsemble * 100);
            log.WriteLine($"epoch {epoch}: zero-shot test accuracy {last.ZeroShotSingle * 100:F2}% (one prompt per class), "
                + $"{last.ZeroShotEnsemble * 100:F2}% (prompts ensembled); held-out contrastive loss {last.TestLoss:F4} (floor {last.TestFloor:F4}); "
                + $"image→text R@1 {last.ImageToText * 100:F2}%, text→image P@10 {last.TextToImage * 100:F2}% ({watch.Elapsed.TotalSeconds:F0} s)");
        }

        var result = last!;
        var facts = new List<Fact>
        {
            new("zero-shot test accuracy, one prompt per class (\"a photo of a t-shirt\", …)", $"{result.ZeroShotSingle * 100:F2}%"),
            new($"zero-shot test accuracy, prompts ensembled over {ClipCaptions.Templates.Length} templates and each class's names", $"{result.ZeroShotEnsemble * 100:F2}%"),
            new($"image→text retrieval: the nearest of all {pool.Length} captions names the image's class (R@1)", $"{result.ImageToText * 100:F2}%"),
            new("text→image retrieval: the 10 nearest test images of each caption are of its class (P@10)", $"{result.TextToImage * 100:F2}%"),
            new($"training contrastive loss, first and last report (chance: ln {batch} = {Math.Log(batch):F4})", $"{lossY[0]:F4} → {lossY[^1]:F4}"),
            new($"held-out contrastive loss in batches of {Math.Min(batch, testSet.Count)} (floor from duplicate classes)", $"{result.TestLoss:F4} ({result.TestFloor:F4})"),
            new("logit scale at the end", $"{Math.Exp(train.Read("logit_scale")[0]):F2} (from 1 / 0.07 = 14.29)"),
            new("time", $"{watch.Elapsed.TotalSeconds:F0} s on {setup.Device.Info.Name}"),
        };
        log.WriteLine($"zero-shot accuracy {result.ZeroShotSingle * 100:F2}% (ensembled {result.ZeroShotEnsemble * 100:F2}%, chance 10%); contrastive loss "
            + $"{lossY[0]:F4} → {lossY[^1]:F4}");
        return new DemoFigures("clip", Model, Command(o),
            $"{trainSet.Count:N0} training and {testSet.Count:N0} test images of Fashion-MNIST, each paired with a caption drawn from "
            + $"{ClipCaptions.Templates.Length} templates and 3-4 names of its class; batch {batch}, {epochs} epochs, Adam 0.001 with a cosine "
            + $"schedule, seed {o.Seed}",
            facts, new[]
            {
                new LinePlot("Contrastive loss", "epochs", "symmetric cross-entropy",
                    new[] { new Series("training loss", lossX.ToArray(), lossY.ToArray()), new Series("floor for duplicate classes", lossX.ToArray(), floorY.ToArray()) },
                    "Several images of one class share a batch: their captions are false negatives, so the loss cannot fall below the mean log of each "
                    + "class's count in the batch (the floor)."),
                new LinePlot("Zero-shot test accuracy", "epoch", "accuracy (%)",
                    new[] { new Series("one prompt per class", accX.ToArray(), singleY.ToArray()), new Series("prompts ensembled", accX.ToArray(), ensembleY.ToArray()) }),
            });
    }

    /// <summary>
    /// The least the symmetric loss can be when captions carry only the class: each row's softmax can at best spread
    /// evenly over the captions of its class in the batch, so the loss is at least the mean of ln(count of its class).
    /// </summary>
    public static double Floor(IReadOnlyList<int> labels)
    {
        var counts = labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        return labels.Average(l => Math.Log(counts[l]));
    }

    /// <summary>The model's inputs and outputs against what the demonstration feeds and reads, from its IR (before compiling).</summary>
    private static void CheckShapes(ModelOutput model, int batch, string path)
    {
        var graph = model.Ir.Graph;
        var symbols = new Dictionary<string, long> { ["N"] = batch };
        string Shape(string name) => graph.Inputs.FirstOrDefault(i => i.Name == name) is { } t ? "[" + string.Join(", ", t.Shape.Eval(symbols)) + "]" : "none";
        var expected = new[] { ("image", $"[{batch}, 1, 28, 28]"), ("text", $"[{batch}, {ClipCaptions.Context}]"), ("eot", $"[{batch}]") };
        foreach (var (name, shape) in expected)
            if (Shape(name) != shape)
                throw new UsageException($"{path}: the CLIP demonstration feeds input '{name}' as {shape} (batch {batch}), the model has {Shape(name)}");
        foreach (var output in new[] { "image_embeds", "text_embeds" })
            if (!graph.Outputs.Any(o => o.Key == output))
                throw new UsageException($"{path}: the CLIP demonstration reads the output '{output}', which the model lacks");
        if (InputRanges.Of(graph).FirstOrDefault(r => r.Input == "text") is { } range && range.Limit < ClipCaptions.Vocabulary)
            throw new UsageException($"{path}: the captions have {ClipCaptions.Vocabulary} word tokens, and {range.Use} reads 'text' as "
                + $"ids below {range.Limit}: set vocab = {ClipCaptions.Vocabulary}");
    }

    private static string Command(DemoOptions o) =>
        "neurodsl demo clip" + (o.Epochs is { } e ? $" --epochs {e}" : "") + (o.Limit is { } l ? $" --limit {l}" : "")
        + (o.TestLimit is { } t ? $" --test-limit {t}" : "") + (o.Batch is { } b ? $" --batch {b}" : "") + (o.Seed != 1 ? $" --seed {o.Seed}" : "");
}
