using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuroDsl.Cli.Cards;

/// <summary>One curve of a plot: points (x, y) and its legend label.</summary>
public sealed record Series(string Label, double[] X, double[] Y);

/// <summary>A line plot as data: what a demonstration measured, drawn by the card (<see cref="Plots"/>).</summary>
public sealed record LinePlot(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series, string? Caption = null);

/// <summary>A named figure a demonstration measured ("steps to 85% test accuracy with batch norm": "900").</summary>
public sealed record Fact(string Name, string Value);

/// <summary>
/// What <c>neurodsl demo</c> writes and a model card reads: the paper's experiment, the command that ran it, its
/// figures and its plots.
/// </summary>
public sealed record DemoFigures(string Demo, string Model, string Command, string Setup, IReadOnlyList<Fact> Facts,
    IReadOnlyList<LinePlot> Plots);

/// <summary>The per-epoch figures <c>neurodsl train --metrics FILE</c> writes.</summary>
public sealed record TrainingEpoch(int Epoch, double TrainLoss, double TestLoss, double TestAccuracy, double Seconds);

/// <summary>Reads and writes the metrics files a card shows.</summary>
public static class MetricsFiles
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Write(string path, DemoFigures figures)
    {
        OutputFiles.EnsureParent(path, "--out");
        OutputFiles.Write(path, JsonSerializer.Serialize(figures, Json) + "\n");
    }

    /// <summary>
    /// Reads a metrics file: a demonstration's figures, or a training run's epochs (turned into loss and accuracy
    /// curves). A file that is neither is refused with the reason.
    /// </summary>
    public static DemoFigures Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such metrics file: {path}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not JSON: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            try
            {
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("demo", out _))
                    return root.Deserialize<DemoFigures>(Json) ?? throw new InvalidDataException($"{path} is empty");
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("epochs", out var epochs))
                    return FromTraining(path, root, epochs.Deserialize<List<TrainingEpoch>>(Json) ?? new());
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: {e.Message}");
            }
        }
        throw new InvalidDataException($"{path} holds neither a training run's epochs ('neurodsl train --metrics') nor a demonstration's figures ('neurodsl demo')");
    }

    private static DemoFigures FromTraining(string path, JsonElement root, List<TrainingEpoch> epochs)
    {
        string Text(string name) => root.TryGetProperty(name, out var v) ? v.ToString() : "?";
        var x = epochs.Select(e => (double)e.Epoch).ToArray();
        var setup = $"batch {Text("batch")}, {Text("optimizer")} lr {Text("learning_rate")}, seed {Text("seed")}";
        var facts = epochs.Count == 0 ? new List<Fact>() : new List<Fact>
        {
            new("test accuracy after epoch " + epochs[^1].Epoch, $"{epochs[^1].TestAccuracy * 100:F2}%"),
            new("training time", $"{epochs.Sum(e => e.Seconds):F0} s"),
        };
        return new DemoFigures("training", Text("model"), "neurodsl train … --metrics " + Path.GetFileName(path), setup, facts, new[]
        {
            new LinePlot("Loss per epoch", "epoch", "cross-entropy", new[]
            {
                new Series("train (mean over the epoch)", x, epochs.Select(e => e.TrainLoss).ToArray()),
                new Series("test", x, epochs.Select(e => e.TestLoss).ToArray()),
            }),
            new LinePlot("Test accuracy", "epoch", "accuracy (%)", new[]
            {
                new Series("test", x, epochs.Select(e => e.TestAccuracy * 100).ToArray()),
            }),
        });
    }
}
