using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Cli.Cards;

namespace NeuroDsl.Cli.Demos;

/// <summary>
/// Glorot &amp; Bengio 2010: the variance of each layer's tanh activations at initialisation in a 10-layer network,
/// for the normalized (Xavier) initialization, the 'standard' U[-1/√n, 1/√n] and a naive N(0, 1).
/// </summary>
internal static class XavierDemo
{
    public static DemoFigures Run(string path, DemoOptions o, TextWriter log)
    {
        using var setup = new DemoSetup(path, o, defaultLimit: 1, defaultTestLimit: o.Batch ?? 1_000);
        var images = setup.TestSet;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var variance = new List<Series>();
        var saturated = new List<Series>();
        var facts = new List<Fact>();
        var layers = Enumerable.Range(1, 10).Select(i => (double)i).ToArray();
        foreach (var (name, label) in new[] { ("XavierTanh", "Xavier U[±√6/√(n_in+n_out)]"), ("StandardTanh", "standard U[±1/√n]"), ("NormalTanh", "naive N(0, 1)") })
        {
            using var model = setup.Create(name, images.Count, o.Seed);
            model.Training = false;
            model.SetInput("image", images.Images);
            model.Forward();
            var v = new double[10];
            var s = new double[10];
            for (var l = 0; l < 10; l++)
            {
                var h = model.Read($"h{l + 1}");
                var mean = h.Average(x => (double)x);
                v[l] = h.Average(x => (x - mean) * (x - mean));
                s[l] = h.Count(x => Math.Abs(x) > 0.99f) * 100.0 / h.Length;
            }
            log.WriteLine($"{name}: variance by layer {string.Join(", ", v.Select(x => x.ToString("G3")))}");
            variance.Add(new Series(label, layers, v.Select(Math.Log10).ToArray()));
            saturated.Add(new Series(label, layers, s));
            facts.Add(new Fact($"{label}: activation variance at layers 1 / 5 / 10", $"{v[0]:G3} / {v[4]:G3} / {v[9]:G3}"));
            facts.Add(new Fact($"{label}: saturated units (|tanh| > 0.99) at layer 10", $"{s[9]:F1}%"));
        }
        facts.Add(new Fact("time", $"{watch.Elapsed.TotalSeconds:F1} s on {setup.Device.Info.Name}"));
        return new DemoFigures("xavier", "XavierTanh, StandardTanh, NormalTanh", "neurodsl demo xavier" + (o.Batch is { } b ? $" --batch {b}" : ""),
            $"10 tanh layers of 1000 units, zero biases, at initialisation (seed {o.Seed}); activations of {images.Count:N0} Fashion-MNIST test images",
            facts, new[]
            {
                new LinePlot("Activation variance per layer at initialisation", "layer", "log₁₀ variance of the tanh outputs", variance,
                    "Xavier keeps the variance nearly constant with depth; the standard initialization lets it shrink layer after layer; N(0, 1) saturates."),
                new LinePlot("Saturated units per layer", "layer", "units with |tanh| > 0.99 (%)", saturated),
            });
    }
}
