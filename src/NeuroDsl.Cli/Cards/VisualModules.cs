using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Data;
using NeuroDsl.Runtime.Training;

namespace NeuroDsl.Cli.Cards;

/// <summary>A card section: a heading, an explanation and HTML (plots as inline SVG).</summary>
public sealed record CardSection(string Heading, string Text, string Html);

/// <summary>
/// The papers' visual modules — what a reader should see to understand each one — for the models that train here:
/// the perceptron's moving boundary, XOR's hidden-unit plane, LeNet's filters and feature maps.
/// </summary>
public static class VisualModules
{
    /// <summary>The visual module of a model, or null when it has none; trains the small models on the device.</summary>
    public static CardSection? For(ModelOutput model, string? checkpoint, Func<Device> device) => model.Name switch
    {
        "Perceptron" => Perceptron(model, device()),
        "XorMlp" => Xor(model, device()),
        "LeNet5" => LeNet(model, checkpoint),
        _ => null,
    };

    private const int PerceptronPoints = 100;

    /// <summary>Rosenblatt's rule, one example at a time at rate 1 (w ← w + y·x on a mistake), on separable blobs.</summary>
    private static CardSection Perceptron(ModelOutput output, Device device)
    {
        var data = SmallDataSet.Blobs(PerceptronPoints, 1);
        var snapshots = new List<(double, double, double, string)>();
        var steps = 0;
        var (epochs, _) = SmallTraining.Run(output, device, data, batch: 1, new Sgd(1f), maxEpochs: 50, seed: 1, after: m =>
        {
            steps++;
            var (w, b) = (m.Read("score.weight"), m.Read("score.bias")[0]);
            var last = snapshots.Count == 0 ? default : snapshots[^1];
            if (snapshots.Count == 0 || last.Item1 != w[0] || last.Item2 != w[1] || last.Item3 != b)
                snapshots.Add((w[0], w[1], b, $"after step {steps}"));
        });
        var lines = Thin(snapshots.Where(s => s.Item1 != 0 || s.Item2 != 0).ToList(), 10);
        var svg = Plots.Boundaries("The boundary w·x + b = 0 as it learns", "x₁", "x₂",
            Column(data.X, 0), Column(data.X, 1), data.Y.Select(y => y > 0).ToArray(), lines, (-3.5, 3.5), ("class +1", "class −1"));
        var updates = snapshots.Count;
        return new CardSection("Visual module: the moving decision boundary",
            $"Trained here by `neurodsl card` on {PerceptronPoints} separable points (the `blobs` set), one example at a time with Rosenblatt's rule " +
            $"(SGD at rate 1 on the perceptron criterion: w ← w + y·x on each mistake). The boundary changed {updates} times " +
            $"in {steps} steps and all points were right after {epochs} epoch(s); faint lines are early boundaries, the thick one the last.",
            svg);
    }

    /// <summary>XOR: the two hidden sigmoid units map the four patterns to a plane where one line separates them.</summary>
    private static CardSection Xor(ModelOutput output, Device device)
    {
        var data = SmallDataSet.Xor();
        var (epochs, weights) = SmallTraining.Run(output, device, data, batch: 4, new Sgd(0.5f, 0.9f), maxEpochs: 20_000, seed: 1,
            after: null, solvedLoss: 0.01f);
        var run = Intermediates.Run(output, weights, new Dictionary<string, float[]> { ["x"] = data.X }, batch: 4);
        var (hidden, _) = run["hidden"];
        var (y, _) = run["y"];
        var positive = data.Y.Select(t => t > 0.5f).ToArray();
        var (wh, bh, wy, by) = (weights["hidden.weight"], weights["hidden.bias"], weights["y.weight"], weights["y.bias"]);
        var inputPlane = Plots.Boundaries("Input plane: the hidden units' lines", "x₁", "x₂",
            Column(data.X, 0), Column(data.X, 1), positive,
            new[] { ((double)wh[0], (double)wh[1], (double)bh[0], "hidden unit 1"), ((double)wh[2], (double)wh[3], (double)bh[1], "hidden unit 2") },
            (-0.5, 1.5), ("target 1", "target 0"), fade: false);
        var hiddenPlane = Plots.Boundaries("Hidden-unit plane: the output line", "hidden unit 1", "hidden unit 2",
            Enumerable.Range(0, 4).Select(i => hidden[2 * i]).ToArray(), Enumerable.Range(0, 4).Select(i => hidden[2 * i + 1]).ToArray(),
            positive, new[] { ((double)wy[0], (double)wy[1], (double)by[0], "output = 0.5") }, (-0.1, 1.1), ("target 1", "target 0"), fade: false);
        var outputs = string.Join(", ", Enumerable.Range(0, 4).Select(i =>
            $"({data.X[2 * i]:0}, {data.X[2 * i + 1]:0}) → {y[i]:F3}"));
        return new CardSection("Visual module: XOR's hidden-unit plane",
            $"Trained here by `neurodsl card` (full batch, SGD lr 0.5, momentum 0.9, seed 1; stopped after {epochs} epochs, when the mean squared error fell to 0.01). " +
            "No line separates XOR's patterns in the input plane (left); the hidden units' sigmoids move them to a plane where the " +
            $"output unit's single line does (right). Outputs: {outputs}.",
            "<div class=\"row\">" + inputPlane + hiddenPlane + "</div>");
    }

    /// <summary>LeNet-5 with trained weights: the six C1 filters and the feature maps of one test image.</summary>
    private static CardSection LeNet(ModelOutput output, string? checkpoint)
    {
        const string train = "neurodsl train models/lenet5.nd --data fashion-mnist --metrics checkpoints/lenet5.metrics.json";
        if (checkpoint is null || !File.Exists(checkpoint))
            return new CardSection("Visual module: learned filters and feature maps",
                $"Needs trained weights: run `{train}` (it saves checkpoints/lenet5.safetensors), or pass `--checkpoint FILE`.", "");
        var weights = Intermediates.Weights(checkpoint);
        var (_, test) = FashionMnist.Load(null, 32);
        const int index = 0;
        var image = test.Images.AsSpan(index * test.ImageSize, test.ImageSize).ToArray();
        var run = Intermediates.Run(output, weights, new Dictionary<string, float[]>
        {
            ["image"] = image, ["label"] = new float[] { test.Labels[index] },
        });
        var (c1w, c1wShape) = (weights["c1.weight"].Select(v => (double)v).ToArray(), new long[] { 1, 6, 5, 5 });
        var (c1, c1Shape) = run["c1"];
        var (c3, c3Shape) = run["c3"];
        var (logits, _) = run["logits"];
        var predicted = Array.IndexOf(logits, logits.Max());
        var input = Intermediates.Map(image.Select(v => (double)v).ToArray(), new long[] { 1, 1, 32, 32 }, 0);
        var html = "<div class=\"row\">"
            + Plots.Mosaic($"Test image 0 ({FashionMnist.ClassNames[test.Labels[index]]})", new[] { input }, 1, 6)
            + Plots.Mosaic("C1's six learned 5×5 filters", Enumerable.Range(0, 6).Select(c => Intermediates.Map(c1w, c1wShape, c)).ToList(), 6, 16)
            + "</div><div class=\"row\">"
            + Plots.Mosaic("C1: six 28×28 feature maps (tanh)", Enumerable.Range(0, 6).Select(c => Intermediates.Map(c1, c1Shape, c)).ToList(), 6, 5)
            + Plots.Mosaic("C3: sixteen 10×10 feature maps (tanh)", Enumerable.Range(0, 16).Select(c => Intermediates.Map(c3, c3Shape, c)).ToList(), 8, 8)
            + "</div>";
        return new CardSection("Visual module: learned filters and feature maps",
            $"Weights from {Path.GetFileName(checkpoint)}; the maps are the forward pass of Fashion-MNIST test image {index} " +
            $"(class {FashionMnist.ClassNames[test.Labels[index]]}; the model says {FashionMnist.ClassNames[predicted]}), read layer by layer " +
            "from the float64 reference interpreter on those weights. Each tile is scaled to its own range (dark low, yellow high).",
            html);
    }

    private static double[] Column(float[] rows, int c) => Enumerable.Range(0, rows.Length / 2).Select(i => (double)rows[2 * i + c]).ToArray();

    /// <summary>At most <paramref name="count"/> items spread evenly, the last always kept.</summary>
    private static List<T> Thin<T>(List<T> items, int count) =>
        items.Count <= count ? items
            : Enumerable.Range(0, count).Select(i => items[(int)Math.Round((double)i * (items.Count - 1) / (count - 1))]).ToList();
}
