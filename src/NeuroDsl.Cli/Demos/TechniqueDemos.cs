using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NeuroDsl.Cli.Cards;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Training;

namespace NeuroDsl.Cli.Demos;

/// <summary>The training experiments of the dropout, batch normalization and Adam papers, run on Fashion-MNIST.</summary>
internal static class TechniqueDemos
{
    /// <summary>Srivastava et al. 2014: the same MLP with and without dropout; training and test accuracy per epoch.</summary>
    public static DemoFigures Dropout(string path, DemoOptions o, TextWriter log)
    {
        using var setup = new DemoSetup(path, o, defaultLimit: 10_000, defaultTestLimit: 10_000);
        var (epochs, batch) = (o.Epochs ?? 20, o.Batch ?? 100);
        var watch = Stopwatch.StartNew();
        var plots = new List<Series>();
        var losses = new List<Series>();
        var facts = new List<Fact>();
        foreach (var (name, label) in new[] { ("DropoutMlp", "with dropout"), ("PlainMlp", "without dropout") })
        {
            var evalBatch = DemoSetup.EvalBatch(Gcd(setup.TrainSet.Count, setup.TestSet.Count));
            using var train = setup.Create(name, batch, o.Seed);
            using var eval = setup.Create(name, evalBatch, o.Seed);
            var optimizer = new Adam(1e-3f);
            var trainer = new Trainer(train, eval, optimizer, setup.TrainSet, setup.TestSet, o.Seed);
            var onTraining = new Trainer(train, eval, optimizer, setup.TrainSet, setup.TrainSet, o.Seed);
            var (x, trainAcc, testAcc, trainLoss, testLoss) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
            for (var epoch = 1; epoch <= epochs; epoch++)
            {
                var m = trainer.RunEpoch(epoch, 1e-3f);
                var (lossOnTrain, accOnTrain) = onTraining.Evaluate();
                x.Add(epoch);
                trainAcc.Add(accOnTrain * 100);
                testAcc.Add(m.TestAccuracy * 100);
                trainLoss.Add(lossOnTrain);
                testLoss.Add(m.TestLoss);
                log.WriteLine($"{name} epoch {epoch}: training accuracy {accOnTrain * 100:F2}%, test {m.TestAccuracy * 100:F2}%, test loss {m.TestLoss:F4}");
            }
            plots.Add(new Series($"training set, {label}", x.ToArray(), trainAcc.ToArray()));
            plots.Add(new Series($"test set, {label}", x.ToArray(), testAcc.ToArray()));
            losses.Add(new Series($"training set, {label}", x.ToArray(), trainLoss.ToArray()));
            losses.Add(new Series($"test set, {label}", x.ToArray(), testLoss.ToArray()));
            facts.Add(new Fact($"{label}: training / test accuracy after {epochs} epochs", $"{trainAcc[^1]:F2}% / {testAcc[^1]:F2}% (gap {trainAcc[^1] - testAcc[^1]:F2} points)"));
            facts.Add(new Fact($"{label}: best test accuracy", $"{testAcc.Max():F2}% (epoch {testAcc.IndexOf(testAcc.Max()) + 1})"));
        }
        facts.Add(new Fact("time", $"{watch.Elapsed.TotalSeconds:F0} s on {setup.Device.Info.Name}"));
        return new DemoFigures("dropout", "DropoutMlp, PlainMlp", Command("dropout", o),
            $"{setup.TrainSet.Count:N0} training and {setup.TestSet.Count:N0} test images of Fashion-MNIST, {epochs} epochs, batch {batch}, Adam lr 0.001, seed {o.Seed}; accuracies in evaluation mode (no dropout)",
            facts, new[]
            {
                new LinePlot("Training and test accuracy, with and without dropout", "epoch", "accuracy (%)", plots,
                    "Without dropout the training accuracy runs away from the test accuracy (overfitting); dropout keeps them close."),
                new LinePlot("Training and test loss", "epoch", "cross-entropy", losses),
            });
    }

    /// <summary>
    /// Ioffe &amp; Szegedy 2015: the sigmoid MLP with and without batch normalization; test accuracy every few steps, the
    /// steps to a target accuracy, and the 15th/50th/85th percentiles of one last-layer sigmoid's inputs (their Fig. 1).
    /// </summary>
    public static DemoFigures BatchNorm(string path, DemoOptions o, TextWriter log)
    {
        using var setup = new DemoSetup(path, o, defaultLimit: 60_000, defaultTestLimit: 2_000);
        var (steps, batch) = (o.Steps ?? 3_000, o.Batch ?? 60);
        var every = Math.Max(1, steps / 60);
        const double target = 0.80;
        const float lr = 0.5f;
        var watch = Stopwatch.StartNew();
        var accuracy = new List<Series>();
        var percentiles = new List<Series>();
        var facts = new List<Fact>();
        foreach (var (name, label) in new[] { ("BatchNormMlp", "with batch norm"), ("SigmoidMlp", "without") })
        {
            var evalBatch = DemoSetup.EvalBatch(setup.TestSet.Count);
            using var train = setup.Create(name, batch, o.Seed);
            using var eval = setup.Create(name, evalBatch, o.Seed);
            var trainer = new Trainer(train, eval, new Sgd(lr), setup.TrainSet, setup.TestSet, o.Seed);
            var (x, acc, p15, p50, p85) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
            long? reached = null;
            void Measure()
            {
                var (_, a) = trainer.Evaluate();
                // Evaluate leaves the last test batch's forward pass in place: one unit's inputs over those images.
                var inputs = eval.Read("sigmoid_inputs");
                var unit = Enumerable.Range(0, evalBatch).Select(i => (double)inputs[i * 100]).OrderBy(v => v).ToArray();
                x.Add(trainer.Steps);
                acc.Add(a * 100);
                p15.Add(Quantile(unit, 0.15));
                p50.Add(Quantile(unit, 0.50));
                p85.Add(Quantile(unit, 0.85));
                if (a >= target && reached is null) reached = trainer.Steps;
            }
            Measure();
            try
            {
                for (var epoch = 1; trainer.Steps < steps; epoch++)
                    trainer.RunEpoch(epoch, lr, (_, _, _) =>
                    {
                        if (trainer.Steps % every == 0) Measure();
                        if (trainer.Steps >= steps) throw new StopEpoch();
                    });
            }
            catch (StopEpoch)
            {
            }
            log.WriteLine($"{name}: test accuracy {acc[^1]:F2}% after {trainer.Steps} steps; {target:P0} reached at step {reached?.ToString() ?? "never"}");
            accuracy.Add(new Series(label, x.ToArray(), acc.ToArray()));
            percentiles.Add(new Series($"{label}: 15th percentile", x.ToArray(), p15.ToArray()));
            percentiles.Add(new Series($"{label}: median", x.ToArray(), p50.ToArray()));
            percentiles.Add(new Series($"{label}: 85th percentile", x.ToArray(), p85.ToArray()));
            facts.Add(new Fact($"{label}: steps to {target:P0} test accuracy", reached is { } r ? $"{r:N0}" : $"not within {steps:N0}"));
            facts.Add(new Fact($"{label}: test accuracy after {steps:N0} steps", $"{acc[^1]:F2}%"));
        }
        facts.Add(new Fact("time", $"{watch.Elapsed.TotalSeconds:F0} s on {setup.Device.Info.Name}"));
        return new DemoFigures("batchnorm", "BatchNormMlp, SigmoidMlp", Command("batchnorm", o),
            $"Fashion-MNIST ({setup.TrainSet.Count:N0} training images; test accuracy on {setup.TestSet.Count:N0}), {steps:N0} steps of batch {batch}, SGD lr {lr}, seed {o.Seed}; measured every {every} steps",
            facts, new[]
            {
                new LinePlot("Test accuracy against training steps (their Fig. 1a)", "training step", "test accuracy (%)", accuracy),
                new LinePlot("Inputs of one last-hidden-layer sigmoid over training (Fig. 1b, c)", "training step", "input value", percentiles,
                    "The 15th, 50th and 85th percentiles over test images: with batch norm the distribution settles within the first few hundred steps and stays; without it, it keeps drifting."),
            });
    }

    /// <summary>Kingma &amp; Ba 2015: the same MLP from the same initial weights, trained with Adam and with SGD with momentum.</summary>
    public static DemoFigures Adam(string path, DemoOptions o, TextWriter log)
    {
        using var setup = new DemoSetup(path, o, defaultLimit: 12_800, defaultTestLimit: 10_000);
        var (epochs, batch) = (o.Epochs ?? 3, o.Batch ?? 128);
        var watch = Stopwatch.StartNew();
        var curves = new List<Series>();
        var facts = new List<Fact>();
        var runs = new (string Label, Func<Optimizer> Make, float Lr)[]
        {
            ("Adam (lr 0.001)", () => new Adam(1e-3f), 1e-3f),
            ("SGD, momentum 0.9 (lr 0.01)", () => new Sgd(0.01f, 0.9f), 0.01f),
        };
        foreach (var (label, make, lr) in runs)
        {
            var evalBatch = DemoSetup.EvalBatch(setup.TestSet.Count);
            using var train = setup.Create("AdamMlp", batch, o.Seed);
            using var eval = setup.Create("AdamMlp", evalBatch, o.Seed);
            var trainer = new Trainer(train, eval, make(), setup.TrainSet, setup.TestSet, o.Seed);
            var (x, y) = (new List<double>(), new List<double>());
            var window = new List<float>();
            var perPoint = Math.Max(1, setup.TrainSet.Count / batch / 20);
            EpochMetrics? last = null;
            for (var epoch = 1; epoch <= epochs; epoch++)
                last = trainer.RunEpoch(epoch, lr, (_, _, loss) =>
                {
                    window.Add(loss);
                    if (window.Count < perPoint) return;
                    x.Add((double)trainer.Steps * batch / setup.TrainSet.Count);
                    y.Add(window.Average());
                    window.Clear();
                });
            log.WriteLine($"{label}: training loss {y[^1]:F4}, test accuracy {last!.TestAccuracy * 100:F2}%");
            curves.Add(new Series(label, x.ToArray(), y.ToArray()));
            facts.Add(new Fact($"{label}: training loss at the end / test accuracy", $"{y[^1]:F4} / {last.TestAccuracy * 100:F2}%"));
            var half = y.Count / 2;
            facts.Add(new Fact($"{label}: mean training loss over the first half of training", $"{y.Take(half).DefaultIfEmpty(y[0]).Average():F4}"));
        }
        facts.Add(new Fact("time", $"{watch.Elapsed.TotalSeconds:F0} s on {setup.Device.Info.Name}"));
        return new DemoFigures("adam", "AdamMlp", Command("adam", o),
            $"{setup.TrainSet.Count:N0} training images of Fashion-MNIST, {epochs} epochs of batch {batch}, both runs from the same initial weights (seed {o.Seed})",
            facts, new[]
            {
                new LinePlot("Training loss: Adam against SGD with momentum (their Fig. 2)", "epochs (passes over the training images)", "training cross-entropy", curves,
                    $"Each point is the mean loss of {Math.Max(1, setup.TrainSet.Count / batch / 20)} consecutive steps."),
            });
    }

    private static string Command(string demo, DemoOptions o) =>
        $"neurodsl demo {demo}" + (o.Epochs is { } e ? $" --epochs {e}" : "") + (o.Steps is { } s ? $" --steps {s}" : "")
        + (o.Limit is { } l ? $" --limit {l}" : "") + (o.TestLimit is { } t ? $" --test-limit {t}" : "") + (o.Batch is { } b ? $" --batch {b}" : "");

    private static double Quantile(double[] sorted, double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>Ends an epoch early once the demonstration has taken its steps.</summary>
    private sealed class StopEpoch : Exception;
}
