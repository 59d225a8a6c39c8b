using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NeuroDsl.Cli.Cards;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime.Checkpoints;
using Xunit;

namespace NeuroDsl.Cli.Tests;

/// <summary><c>neurodsl card</c>: self-contained pages with the paper, diagram, figures, code, curves and visual modules.</summary>
public sealed class CardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("card").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Model(string name) => CliTests.Model(name);

    /// <summary>A page that works from a file: no script, no stylesheet or image fetched from anywhere.</summary>
    internal static void AssertSelfContained(string html)
    {
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotMatch(new Regex(@"(src|href)=""(https?:|//)"), html);
        Assert.DoesNotContain("<?xml", html);
    }

    [Fact]
    public void Card_LeNet_ShowsPaperDiagramExpectsAndOneLayersCode()
    {
        var output = Path.Combine(_dir, "lenet5.html");
        var (code, stdout, err) = CliTests.Run("card", Model("lenet5.nd"), "-o", output, "--checkpoint", Path.Combine(_dir, "none.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote " + output, stdout);
        var html = File.ReadAllText(output);
        AssertSelfContained(html);
        Assert.Contains("<h1>Gradient-Based Learning Applied to Document Recognition</h1>", html);
        Assert.Contains("Y. LeCun, L. Bottou, Y. Bengio, P. Haffner · 1998", html);
        // The diagram is Graphviz's SVG inline (the fallback shows the DOT text and says what to install).
        Assert.True(html.Contains("class=\"graph\"") || html.Contains("needs Graphviz"), "no diagram");
        // The expect lines with the paper's figure and ours.
        Assert.Matches(@"<td>20</td><td><code>expect params == 61_706</code></td><td>61,706</td><td>61,706</td>", html);
        Assert.Contains("<code>expect logits: [N, 10]</code></td><td>[N, 10]</td><td>[N, 10]</td>", html);
        // The first layer with parameters, its launches and its generated kernel.
        Assert.Contains("lenet5.nd:11 of LeNet5", html);
        Assert.Contains("c1 = image |&gt; conv2d(6, kernel: 5) |&gt; tanh", html);
        Assert.Contains("__kernel void nd_fused_c1_tanh(", html);
        // Without a checkpoint or a metrics file the card says how to make them.
        Assert.Contains("Needs trained weights", html);
        Assert.Contains("No metrics file at", html);
    }

    [Fact]
    public void Card_WithMetrics_DrawsTrainingCurvesAndDemonstrationPlots()
    {
        var metrics = Path.Combine(_dir, "run.json");
        File.WriteAllText(metrics, """
            { "model": "Mlp", "batch": 64, "optimizer": "adam", "learning_rate": 0.001, "seed": 1, "epochs": [
              { "epoch": 1, "train_loss": 0.61, "test_loss": 0.48, "test_accuracy": 0.83, "examples_per_second": 9000, "seconds": 7.5, "learning_rate": 0.001 },
              { "epoch": 2, "train_loss": 0.41, "test_loss": 0.43, "test_accuracy": 0.851, "examples_per_second": 9100, "seconds": 7.4, "learning_rate": 0.001 } ] }
            """);
        var output = Path.Combine(_dir, "mlp.html");
        var (code, _, err) = CliTests.Run("card", Model("mlp.nd"), "-o", output, "--metrics", metrics);
        Assert.True(code == 0, err);
        var html = File.ReadAllText(output);
        AssertSelfContained(html);
        Assert.Contains("<h2>Training curves</h2>", html);
        Assert.Contains("<td>85.10%</td>", html);
        Assert.True(Regex.Matches(html, "<svg").Count >= 3, "two plots and the diagram");

        var demo = Path.Combine(_dir, "demo.json");
        MetricsFiles.Write(demo, new DemoFigures("adam", "AdamMlp", "neurodsl demo adam", "tiny", new[] { new Fact("loss", "0.5") },
            new[] { new LinePlot("Training loss", "epoch", "loss", new[] { new Series("Adam", new[] { 0.5, 1.0 }, new[] { 1.0, 0.5 }) }) }));
        Assert.Equal(0, CliTests.Run("card", Model("adam_mlp.nd"), "-o", output, "--metrics", demo).Code);
        html = File.ReadAllText(output);
        Assert.Contains("The paper's experiment, run here", html);
        Assert.Contains("<th>loss</th><td>0.5</td>", html);

        File.WriteAllText(demo, "{ \"neither\": 1 }");
        var bad = CliTests.Run("card", Model("adam_mlp.nd"), "-o", output, "--metrics", demo);
        Assert.Equal(65, bad.Code);
        Assert.Contains("holds neither a training run's epochs", bad.Err);
        Assert.Equal(66, CliTests.Run("card", Model("adam_mlp.nd"), "--metrics", Path.Combine(_dir, "missing.json")).Code);
        Assert.Equal(73, CliTests.Run("card", Model("adam_mlp.nd"), "-o", Path.Combine(_dir, "no", "such", "dir", "x.html")).Code);
    }

    [Fact]
    public void Card_LeNetWithCheckpoint_DrawsItsFiltersAndTheFeatureMapsOfATestImage()
    {
        // Weights of the right shapes (the card reads any checkpoint of the model): the maps come from the reference.
        var model = NeuroCompiler.Compile("lenet5.nd", File.ReadAllText(Model("lenet5.nd"))).Models.Single();
        var rng = new Random(5);
        var checkpoint = Path.Combine(_dir, "lenet5.safetensors");
        SafeTensors.Write(checkpoint, model.Ir.Graph.Params.Select(p =>
        {
            var shape = p.Shape.Eval(new Dictionary<string, long>());
            return SafeTensor.Of(p.Name, shape, Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.4f).ToArray());
        }).ToList());
        var output = Path.Combine(_dir, "lenet5.html");
        var (code, _, err) = CliTests.Run("card", Model("lenet5.nd"), "-o", output, "--checkpoint", checkpoint);
        Assert.True(code == 0, err);
        var html = System.Net.WebUtility.HtmlDecode(File.ReadAllText(output));
        Assert.Contains("<figcaption>C1's six learned 5×5 filters</figcaption>", html);
        Assert.Contains("<figcaption>C1: six 28×28 feature maps (tanh)</figcaption>", html);
        Assert.Contains("<figcaption>C3: sixteen 10×10 feature maps (tanh)</figcaption>", html);
        Assert.Equal(4, Regex.Matches(html, "<figure class=\"mosaic\"><svg").Count);
        Assert.Matches("Fashion-MNIST test image 0 \\(class Ankle boot; the model says [A-Za-z/ -]+\\)", html);
    }

    [Fact]
    public void CardFolder_WritesEveryCardAndAnIndex_TrainingThePerceptronAndXorForTheirPlots()
    {
        var models = Directory.CreateDirectory(Path.Combine(_dir, "models")).FullName;
        foreach (var f in new[] { "perceptron.nd", "xor_mlp.nd", "lenet5.nd" }) File.Copy(Model(f), Path.Combine(models, f));
        var site = Path.Combine(_dir, "site");
        var (code, _, err) = CliTests.Run("card", models, "-o", site, "--checkpoint", Path.Combine(_dir, "checkpoints"));
        Assert.True(code == 0, err);
        var index = File.ReadAllText(Path.Combine(site, "index.html"));
        AssertSelfContained(index);
        foreach (var page in new[] { "perceptron.html", "xor_mlp.html", "lenet5.html" })
        {
            Assert.Contains($"<a href=\"{page}\">", index);
            AssertSelfContained(File.ReadAllText(Path.Combine(site, page)));
        }
        var perceptron = File.ReadAllText(Path.Combine(site, "perceptron.html"));
        Assert.Contains("Visual module: the moving decision boundary", perceptron);
        var changes = int.Parse(Regex.Match(perceptron, @"The boundary changed (\d+) times").Groups[1].Value);
        Assert.InRange(changes, 2, 100);
        var xor = File.ReadAllText(Path.Combine(site, "xor_mlp.html"));
        Assert.Contains("Visual module: XOR&#39;s hidden-unit plane", xor);
        // Trained until right: outputs for (0,0), (0,1), (1,0), (1,1) on the right side of 0.5 by a margin.
        var outputs = Regex.Matches(xor, @"\) → (\d+\.\d+)").Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(4, outputs.Count);
        Assert.True(outputs[0] < 0.3 && outputs[1] > 0.7 && outputs[2] > 0.7 && outputs[3] < 0.3, string.Join(", ", outputs));

        Assert.Equal(64, CliTests.Run("card", models).Code); // a folder needs -o
    }
}
