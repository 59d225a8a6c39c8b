using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Cli.Cards;
using NeuroDsl.Cli.Demos;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Reference;
using NeuroDsl.Runtime;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary>
/// models/clip_fmnist.nd and <c>neurodsl demo clip</c>: the device's contrastive loss is the paper's pseudocode computed
/// in float64, the floor that duplicate classes set holds, a toy-size run classifies zero-shot well above chance, and
/// bad input is one line.
/// </summary>
public sealed class ClipDemoTests : IDisposable
{
    private const string Toy = "embed = 16, channels = 4, hidden = 32, context = 12, vocab = 52, width = 32, layers = 1, heads = 2";
    private readonly string _dir = Directory.CreateTempSubdirectory("clip").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A models folder holding clip_fmnist.nd with other header sizes.</summary>
    private string Models(string sizes)
    {
        var text = File.ReadAllText(CliTests.Model("clip_fmnist.nd"));
        text = new Regex(@"model ClipFashionMnist\([^)]*\)").Replace(text, $"model ClipFashionMnist({sizes})", 1);
        text = Regex.Replace(text, @"^\s*expect .*$", "", RegexOptions.Multiline);
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "models-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        File.WriteAllText(Path.Combine(dir, "clip_fmnist.nd"), text);
        return dir;
    }

    [Fact]
    public void DeviceLoss_IsThePapersSymmetricCrossEntropy_InFloat64()
    {
        var compiled = NeuroCompiler.Compile("clip_fmnist.nd", File.ReadAllText(Path.Combine(Models(Toy), "clip_fmnist.nd")));
        Assert.True(compiled.Success, string.Join("\n", compiled.Diagnostics));
        var output = compiled.Models.Single();
        using var device = Device.Open();
        const int n = 24;
        using var model = ModelLoader.Create(output, ModelLoader.Compile(output), device, new Dictionary<string, long> { ["N"] = n }, 3);
        var rng = new Random(5);
        var labels = Enumerable.Range(0, n).Select(_ => rng.Next(10)).ToArray();
        var (tokens, eot) = (new int[n * ClipCaptions.Context], new int[n]);
        for (var r = 0; r < n; r++)
            eot[r] = ClipCaptions.Encode(ClipCaptions.Random(labels[r], rng.Next), tokens.AsSpan(r * ClipCaptions.Context, ClipCaptions.Context));
        model.SetInput("image", Enumerable.Range(0, n * 784).Select(_ => (float)rng.NextDouble()).ToArray());
        model.SetInput("text", tokens);
        model.SetInput("eot", eot);
        // A scale other than the initial one, so the exp and the scaling are checked too.
        model.WriteParameter("logit_scale", new[] { 3.1f });
        model.Forward();
        float[][] Rows(string name) => model.Read(name).Chunk(16).ToArray();
        var (images, texts) = (Rows("image_embeds"), Rows("text_embeds"));
        Assert.All(images.Concat(texts), r => Assert.Equal(1.0, Math.Sqrt(r.Sum(v => (double)v * v)), 5));
        var expected = ClipEvaluation.SymmetricLoss(images, texts, Math.Exp(3.1));
        Assert.Equal(expected, model.ReadLoss(), 4);
        // Above log(100) the scale is clamped: the logits are 100 × the cosines.
        model.WriteParameter("logit_scale", new[] { 5f });
        model.Forward();
        Assert.Equal(ClipEvaluation.SymmetricLoss(images, texts, 100), model.ReadLoss(), 3);
        var logits = model.Read("logits_per_image");
        Assert.Equal(100 * images[1].Zip(texts[2], (a, b) => (double)a * b).Sum(), logits[1 * n + 2], 3);
    }

    [Fact]
    public void ToyModel_OnTheDevice_MatchesTheFloat64Reference_OutputsLossAndEveryGradient()
    {
        var compiled = NeuroCompiler.Compile("clip_fmnist.nd", File.ReadAllText(Path.Combine(Models(Toy), "clip_fmnist.nd")));
        var output = compiled.Models.Single();
        var graph = output.Ir.Graph;
        using var device = Device.Open();
        const int n = 6;
        var symbols = new Dictionary<string, long> { ["N"] = n };
        using var model = ModelLoader.Create(output, ModelLoader.Compile(output), device, symbols, 3);
        var rng = new Random(9);
        var leaves = new Dictionary<int, double[]>();
        foreach (var p in graph.Params)
        {
            var values = Enumerable.Range(0, (int)p.Shape.Eval(symbols).Aggregate(1L, (a, b) => a * b))
                .Select(_ => (double)(float)((rng.NextDouble() - 0.5) * 0.4)).ToArray();
            leaves[p.Id] = values;
            model.WriteParameter(p.Name, values.Select(v => (float)v).ToArray());
        }
        var image = Enumerable.Range(0, n * 784).Select(_ => (double)(float)rng.NextDouble()).ToArray();
        var (tokens, eot) = (new int[n * ClipCaptions.Context], new int[n]);
        for (var r = 0; r < n; r++)
            eot[r] = ClipCaptions.Encode(ClipCaptions.Random(r % 3, rng.Next), tokens.AsSpan(r * ClipCaptions.Context, ClipCaptions.Context));
        model.SetInput("image", image.Select(v => (float)v).ToArray());
        model.SetInput("text", tokens);
        model.SetInput("eot", eot);
        leaves[graph.Inputs.Single(i => i.Name == "image").Id] = image;
        leaves[graph.Inputs.Single(i => i.Name == "text").Id] = tokens.Select(t => (double)t).ToArray();
        leaves[graph.Inputs.Single(i => i.Name == "eot").Id] = eot.Select(t => (double)t).ToArray();
        model.Forward();
        model.Backward();
        var reference = ReferenceInterpreter.Run(graph, symbols, leaves);
        // Each tensor within 1e-4 of its largest entry (the float32 sums of a 3,136-wide layer against float64 ones).
        void Close(double[] expected, float[] actual, string what)
        {
            Assert.Equal(expected.Length, actual.Length);
            var scale = expected.Max(v => Math.Abs(v)) + 1e-6;
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * scale, $"{what}[{i}]: device {actual[i]}, reference {expected[i]}");
        }
        foreach (var (name, id) in graph.Outputs) Close(reference[id], model.Read(name), name);
        Close(reference[graph.LossId!.Value], new[] { model.ReadLoss() }, "loss");
        var parameters = graph.Params.Select(p => p.Id).ToHashSet();
        var checkedGradients = 0;
        foreach (var (leaf, grad) in graph.Gradients.Where(g => parameters.Contains(g.Key)))
        {
            Close(reference[grad], model.Read("grad." + graph[leaf].Name), "grad." + graph[leaf].Name);
            checkedGradients++;
        }
        Assert.Equal(parameters.Count, checkedGradients);
    }

    [Fact]
    public void Floor_IsTheLossOfEmbeddingsThatOnlyKnowTheClass()
    {
        // Every image and caption of a class on one unit vector: as the scale grows the loss reaches the floor, the mean
        // of ln(count of the class in the batch) (a class seen once contributes 0).
        var labels = new[] { 0, 0, 0, 1, 2, 2, 1, 3 };
        var rows = labels.Select(l => Enumerable.Range(0, 4).Select(d => d == l ? 1f : 0f).ToArray()).ToArray();
        var floor = ClipDemo.Floor(labels);
        Assert.Equal((3 * Math.Log(3) + 4 * Math.Log(2)) / 8, floor, 12);
        Assert.Equal(floor, ClipEvaluation.SymmetricLoss(rows, rows, 100), 6);
        Assert.True(ClipEvaluation.SymmetricLoss(rows, rows, 1) > floor + 0.1);
    }

    [Fact]
    public void Captions_AreWordTokensWithTheEndTokenLargest_AndFitTheModel()
    {
        var tokens = new int[ClipCaptions.Context];
        var end = ClipCaptions.Encode("a photo of an ankle boot", tokens);
        Assert.Equal(7, end);
        Assert.Equal(ClipCaptions.Start, tokens[0]);
        Assert.Equal(ClipCaptions.End, tokens[end]);
        Assert.Equal(ClipCaptions.End, tokens.Max());
        Assert.All(tokens.Skip(end + 1), t => Assert.Equal(ClipCaptions.Pad, t));
        // Every caption of every class fits the context, and the model's vocabulary is the captions'.
        for (var k = 0; k < ClipCaptions.Classes; k++)
            foreach (var caption in ClipCaptions.Of(k)) Assert.InRange(ClipCaptions.Encode(caption, tokens), 2, ClipCaptions.Context - 1);
        Assert.Contains($"vocab = {ClipCaptions.Vocabulary},", File.ReadAllText(CliTests.Model("clip_fmnist.nd")));
        Assert.Equal("a photo of an overcoat", ClipCaptions.Fill(ClipCaptions.Templates[0], "overcoat"));
        Assert.Throws<ArgumentException>(() => ClipCaptions.Encode("a photo of a hat", tokens));
    }

    [Fact]
    public void ToySize_LossFalls_AndZeroShotAccuracyIsWellAboveChance()
    {
        var (code, stdout, err) = CliTests.Run("demo", "clip", "--models", Models(Toy), "-o", _dir, "--epochs", "2", "--limit", "3200",
            "--test-limit", "500", "--batch", "64");
        Assert.True(code == 0, err);
        Assert.Contains("zero-shot test accuracy", stdout);
        var figures = MetricsFiles.Read(Path.Combine(_dir, "clip_fmnist.metrics.json"));
        var (loss, floor) = (figures.Plots[0].Series[0].Y, figures.Plots[0].Series[1].Y);
        Assert.True(loss[^1] < loss[0] - 0.5, $"contrastive loss {loss[0]} → {loss[^1]}");
        Assert.All(loss.Zip(floor), p => Assert.True(p.First > p.Second, $"loss {p.First} under its floor {p.Second}"));
        var (single, ensemble) = (figures.Plots[1].Series[0].Y, figures.Plots[1].Series[1].Y);
        Assert.Equal(2, single.Length);
        Assert.True(single[^1] > 40 && ensemble[^1] > 40, $"zero-shot accuracy {single[^1]}% (ensembled {ensemble[^1]}%), chance 10%");
    }

    [Fact]
    public void BadInput_IsOneLine()
    {
        static string UserError(int code, params string[] args)
        {
            var (actual, _, err) = CliTests.Run(args);
            Assert.True(code == actual, $"exit {actual}, not {code}: {err}");
            var lines = err.Replace("\r", "").Trim().Split('\n').ToList();
            Assert.InRange(lines.Count, 1, 2);
            Assert.StartsWith("neurodsl: ", lines[0]);
            if (lines.Count == 2) Assert.StartsWith("Run '", lines[1]);
            Assert.DoesNotContain("   at ", err);
            return lines[0];
        }

        var toy = Models(Toy);
        var small = new[] { "--models", toy, "-o", _dir, "--limit", "256", "--test-limit", "100" };
        Assert.Contains("--steps does not apply", UserError(64, new[] { "demo", "clip", "--steps", "5" }.Concat(small).ToArray()));
        Assert.Contains("at least 2 pairs", UserError(64, new[] { "demo", "clip", "--batch", "1" }.Concat(small).ToArray()));
        Assert.Contains("more than the 256 training images", UserError(64, new[] { "demo", "clip", "--batch", "512" }.Concat(small).ToArray()));
        // A model whose text input is shorter than the captions, or whose vocabulary is smaller than theirs.
        Assert.Contains("feeds input 'text' as [64, 12]", UserError(64, "demo", "clip", "--models", Models(Toy.Replace("context = 12", "context = 8")),
            "-o", _dir, "--limit", "256", "--test-limit", "100", "--batch", "64"));
        Assert.Contains("set vocab = 52", UserError(64, "demo", "clip", "--models", Models(Toy.Replace("vocab = 52", "vocab = 20")),
            "-o", _dir, "--limit", "256", "--test-limit", "100", "--batch", "64"));
        Assert.Contains("no such file", UserError(66, "demo", "clip", "--models", _dir, "-o", _dir));
    }
}
