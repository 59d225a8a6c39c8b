using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using NeuroDsl.Cli.Cards;

namespace NeuroDsl.Cli.Demos;

/// <summary>The sizes a demonstration runs at; null means the demonstration's own default.</summary>
public sealed record DemoOptions(string? ModelsDir, string OutputDir, string? DataDir, int? Epochs, int? Limit, int? TestLimit,
    int? Batch, int? Steps, ulong Seed);

/// <summary>
/// <c>neurodsl demo dropout|batchnorm|adam|xavier|clip</c>: the four technique papers' experiments and CLIP's contrastive
/// pre-training on Fashion-MNIST with generated captions, each writing the figures
/// (<see cref="DemoFigures"/>) that the paper's model card shows.
/// </summary>
public static class TechniqueDemoCommand
{
    /// <summary>The demonstrations this class runs.</summary>
    public static readonly IReadOnlyList<string> Names = new[] { "dropout", "batchnorm", "adam", "xavier", "clip" };

    /// <summary>The entry point, with parsed values: runs one demonstration and writes its figures.</summary>
    public static int Run(string demo, DemoOptions options, TextWriter log)
    {
        var (file, run) = demo switch
        {
            "dropout" => ("dropout_mlp.nd", (Func<string, DemoOptions, TextWriter, DemoFigures>)TechniqueDemos.Dropout),
            "batchnorm" => ("batchnorm_mlp.nd", TechniqueDemos.BatchNorm),
            "adam" => ("adam_mlp.nd", TechniqueDemos.Adam),
            "xavier" => ("xavier_tanh.nd", XavierDemo.Run),
            "clip" => ("clip_fmnist.nd", ClipDemo.Run),
            _ => throw new UsageException($"unknown demo '{demo}' (dropout, batchnorm, adam, xavier, clip)"),
        };
        // Without --models: the zoo's file when run in a clone, else the copy beside the tool.
        var path = options.ModelsDir is { } dir ? Path.Combine(dir, file)
            : File.Exists(Path.Combine("models", file)) ? Path.Combine("models", file)
            : Path.Combine(AppContext.BaseDirectory, "Demos", file);
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path} (point --models at the folder of the zoo)");
        var figures = run(path, options, log);
        var output = Path.Combine(options.OutputDir, Path.GetFileNameWithoutExtension(file) + ".metrics.json");
        MetricsFiles.Write(output, figures);
        foreach (var fact in figures.Facts) log.WriteLine($"  {fact.Name}: {fact.Value}");
        log.WriteLine($"wrote {output} (shown by: neurodsl card {path})");
        return ExitCodes.Ok;
    }
}
