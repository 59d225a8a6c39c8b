using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Emit;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Cards;

/// <summary>
/// <c>neurodsl card FILE [-o OUT.html] [--metrics M.json] [--checkpoint C.safetensors]</c> and
/// <c>neurodsl card DIR -o SITE/</c>: model cards, one self-contained HTML page per model file, and an index.
/// </summary>
public static class CardCommand
{
    public static System.CommandLine.Command Build()
    {
        var input = new System.CommandLine.Argument<string>("FILE|DIR") { Description = "a model file (.nd), or a folder of them for a site with an index" };
        var output = new System.CommandLine.Option<string?>("--output", "-o")
        {
            Description = "the page to write (FILE: default <stem>.html) or the site folder (DIR: required)", HelpName = "OUT",
        };
        var metrics = new System.CommandLine.Option<string?>("--metrics")
        {
            Description = "training curves: a --metrics file of train, or what neurodsl demo writes (default: <stem>.metrics.json beside the checkpoint)",
            HelpName = "M.json",
        };
        var checkpoint = new System.CommandLine.Option<string?>("--checkpoint")
        {
            Description = "trained weights for the visual module (FILE), or the folder of checkpoints (DIR); default checkpoints/",
            HelpName = "C",
        };
        var command = new System.CommandLine.Command("card", "Model cards: self-contained HTML pages with the paper, diagram, summary beside "
            + "the paper's figures, one layer's generated code, training curves and the paper's visual module; a folder gets an index.")
            { input, output, metrics, checkpoint }
            .WithExamples("neurodsl card models/lenet5.nd", "neurodsl card models/ -o site/",
                "neurodsl demo dropout && neurodsl card models/dropout_mlp.nd");
        command.SetAction(r => Run(r.GetValue(input)!, r.GetValue(output), r.GetValue(metrics), r.GetValue(checkpoint), Console.Out));
        return command;
    }

    /// <summary>
    /// The entry point, with parsed values. <paramref name="checkpoint"/> is a checkpoint file (FILE) or the folder
    /// of checkpoints (DIR); by default checkpoints/. A card shows <c>&lt;stem&gt;.metrics.json</c> found beside the
    /// checkpoint (what <c>neurodsl demo</c> writes, or <c>train --metrics</c> when pointed there) unless given one.
    /// </summary>
    public static int Run(string input, string? output, string? metrics, string? checkpoint, TextWriter log)
    {
        Device? device = null;
        Device Device() => device ??= NeuroDsl.Runtime.Device.Open();
        try
        {
            if (Directory.Exists(input))
            {
                if (output is null) throw new UsageException("card DIR needs -o SITE-DIR for the pages and their index");
                if (metrics is not null) throw new UsageException("--metrics names one file's metrics; with a folder, put <name>.metrics.json beside the checkpoints");
                return Folder(input, output, checkpoint ?? "checkpoints", Device, log);
            }
            if (!File.Exists(input)) throw new FileNotFoundException($"no such file or folder: {input}");
            var stem = Path.GetFileNameWithoutExtension(input);
            output ??= stem + ".html";
            if (Directory.Exists(output)) output = Path.Combine(output, stem + ".html");
            OutputFiles.CheckFile(output, "-o");
            var checkpointFile = checkpoint ?? Path.Combine("checkpoints", stem + ".safetensors");
            var result = Program.CompileFile(input);
            if (result is null) return ExitCodes.DataError;
            Write(input, result, output, checkpointFile, metrics, Device, explicitMetrics: metrics is not null);
            log.WriteLine($"wrote {output}");
            return ExitCodes.Ok;
        }
        finally
        {
            device?.Dispose();
        }
    }

    private static int Folder(string dir, string site, string checkpoints, Func<Device> device, TextWriter log)
    {
        OutputFiles.CheckDirectory(site, "-o");
        var cards = new List<(string, string, IReadOnlyList<ModelOutput>)>();
        var failed = new List<string>();
        foreach (var file in Directory.GetFiles(dir, "*.nd").OrderBy(f => f, StringComparer.Ordinal))
        {
            var stem = Path.GetFileNameWithoutExtension(file);
            var result = Program.CompileFile(file);
            if (result is null)
            {
                failed.Add(Path.GetFileName(file));
                continue;
            }
            Write(file, result, Path.Combine(site, stem + ".html"), Path.Combine(checkpoints, stem + ".safetensors"), null, device, false);
            cards.Add((stem + ".html", CardPage.Title(result.Models), result.Models));
            log.WriteLine($"wrote {Path.Combine(site, stem + ".html")}");
        }
        OutputFiles.Write(Path.Combine(site, "index.html"), CardPage.Index(cards, failed));
        log.WriteLine($"wrote {Path.Combine(site, "index.html")} ({cards.Count} cards{(failed.Count > 0 ? $", {failed.Count} files with errors" : "")})");
        return failed.Count == 0 ? ExitCodes.Ok : ExitCodes.DataError;
    }

    private static void Write(string file, CompileResult result, string output, string checkpoint, string? metrics,
        Func<Device> device, bool explicitMetrics)
    {
        var diagrams = new Dictionary<string, string>();
        foreach (var m in result.Models)
        {
            var dot = DotWriter.Write(m.Ir);
            var svg = Graphviz.Svg(dot, out var problem);
            diagrams[m.Name] = svg ?? $"<p>{System.Net.WebUtility.HtmlEncode(problem!)}</p><pre>{System.Net.WebUtility.HtmlEncode(dot)}</pre>";
        }
        var visuals = new List<CardSection>();
        foreach (var m in result.Models)
        {
            try
            {
                if (VisualModules.For(m, checkpoint, device) is { } section) visuals.Add(section);
            }
            catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or InvalidDataException or FileNotFoundException)
            {
                // No OpenCL device, or a checkpoint that does not fit: the card says so instead of failing.
                visuals.Add(new CardSection("Visual module", $"Not drawn: {e.Message}", ""));
            }
        }
        metrics ??= Path.ChangeExtension(checkpoint, null) + ".metrics.json";
        DemoFigures? figures = null;
        string? note = null;
        if (File.Exists(metrics) || explicitMetrics) figures = MetricsFiles.Read(metrics);
        else
        {
            var demo = Path.GetFileNameWithoutExtension(file) switch
            {
                "dropout_mlp" => "dropout", "batchnorm_mlp" => "batchnorm", "adam_mlp" => "adam", "xavier_tanh" => "xavier", "clip_fmnist" => "clip", _ => null,
            };
            note = $"No metrics file at {metrics}: train with `neurodsl train {file} --data … --metrics {metrics}`"
                   + (demo is null ? "" : $" (or run the paper's experiment, `neurodsl demo {demo}`)") + ", or pass `--metrics FILE`.";
        }
        OutputFiles.Write(output, CardPage.Html(new CardPage.Content(Path.GetFileName(file), File.ReadAllText(file), result.Models,
            diagrams, visuals, figures, note)));
    }
}
