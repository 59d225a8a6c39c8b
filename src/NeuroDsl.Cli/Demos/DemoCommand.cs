using System;
using System.Globalization;
using System.IO;
using NeuroDsl.Cli.Cards;

namespace NeuroDsl.Cli.Demos;

/// <summary>The sizes a demonstration runs at; null means the demonstration's own default.</summary>
public sealed record DemoOptions(string ModelsDir, string OutputDir, string? DataDir, int? Epochs, int? Limit, int? TestLimit,
    int? Batch, int? Steps, ulong Seed);

/// <summary>
/// <c>neurodsl demo dropout|batchnorm|adam|xavier</c>: the four technique papers' experiments, each writing the figures
/// (<see cref="DemoFigures"/>) that the paper's model card shows.
/// </summary>
public static class DemoCommand
{
    public const string Usage = """
          neurodsl demo dropout|batchnorm|adam|xavier [-o DIR] [--models DIR] [--epochs E] [--limit N] [--test-limit N]
                        [--batch B] [--steps S] [--seed S]
                                                          a technique paper's experiment on Fashion-MNIST, its figures as
                                                          DIR/<model>.metrics.json (DIR: checkpoints) for the card of
                                                          models/dropout_mlp.nd, batchnorm_mlp.nd, adam_mlp.nd, xavier_tanh.nd
        """;

    internal static int Run(Args args)
    {
        var options = new DemoOptions(args.Get("models") ?? "models", args.Get("o", "output") ?? "checkpoints", args.Get("data-dir"),
            Optional(args, "epochs"), Optional(args, "limit"), Optional(args, "test-limit"), Optional(args, "batch"),
            Optional(args, "steps"), (ulong)args.Int("seed", 1));
        args.CheckUnknown();
        if (args.Positional.Count != 1) throw new UsageException("demo takes one of dropout, batchnorm, adam, xavier");
        return Run(args.Positional[0], options, Console.Out);
    }

    /// <summary>The entry point, with parsed values: runs one demonstration and writes its figures.</summary>
    public static int Run(string demo, DemoOptions options, TextWriter log)
    {
        var (file, run) = demo switch
        {
            "dropout" => ("dropout_mlp.nd", (Func<string, DemoOptions, TextWriter, DemoFigures>)TechniqueDemos.Dropout),
            "batchnorm" => ("batchnorm_mlp.nd", TechniqueDemos.BatchNorm),
            "adam" => ("adam_mlp.nd", TechniqueDemos.Adam),
            "xavier" => ("xavier_tanh.nd", XavierDemo.Run),
            _ => throw new UsageException($"unknown demo '{demo}' (dropout, batchnorm, adam, xavier)"),
        };
        var path = Path.Combine(options.ModelsDir, file);
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path} (point --models at the folder of the zoo)");
        var figures = run(path, options, log);
        var output = Path.Combine(options.OutputDir, Path.GetFileNameWithoutExtension(file) + ".metrics.json");
        MetricsFiles.Write(output, figures);
        foreach (var fact in figures.Facts) log.WriteLine($"  {fact.Name}: {fact.Value}");
        log.WriteLine($"wrote {output} (shown by: neurodsl card {path})");
        return ExitCodes.Ok;
    }

    private static int? Optional(Args args, string name) =>
        args.Get(name) is { } v ? int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : throw new UsageException($"--{name} takes a positive whole number, not '{v}'") : null;
}
