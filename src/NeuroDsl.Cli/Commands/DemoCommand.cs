using System;
using System.CommandLine;
using System.Linq;
using NeuroDsl.Cli.Demos;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl demo NAME</c>: a classic paper's experiment, run on the default device. The sequence papers
/// (<see cref="SequenceDemos"/>) print their figures and write their plots into <c>-o DIR</c>.
/// </summary>
internal static class DemoCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("NAME") { Description = "the demonstration: " + string.Join(", ", SequenceDemos.Names) };
        name.AcceptOnlyFromAmong(SequenceDemos.Names.ToArray());
        var small = new Option<bool>("--small") { Description = "the size the tests run (seconds, not minutes)" };
        var seed = CommandLine.PositiveInt("--seed", "initialization and data seed (default 1)", "S");
        var output = new Option<string?>("--out", "-o") { Description = "where plots and tables go (default: the current directory)", HelpName = "DIR" };
        var minutes = CommandLine.PositiveDouble("--minutes", "a time budget per model, replacing the demonstration's own", "M");
        var command = new Command("demo", "A classic paper's experiment: Elman's XOR and letters, Bengio's vanishing gradients, "
            + "the LSTM's long lags, seq2seq and attention reversing digits, word2vec's neighbours.") { name, small, seed, output, minutes }
            .WithExamples("neurodsl demo long-lag --small", "neurodsl demo attention-reverse -o out/   (writes out/attention_alignment.png)",
                "neurodsl demo bengio-gradients   (writes bengio_gradients.csv)");
        command.SetAction(r => Run(r.GetValue(name)!, r.GetValue(small), (ulong)(r.GetValue(seed) ?? 1), r.GetValue(output), r.GetValue(minutes)));
        return command;
    }

    public static int Run(string name, bool small, ulong seed, string? outDir, double? minutes)
    {
        if (outDir is not null) OutputFiles.CheckDirectory(outDir, "--out");
        using var device = Device.Open();
        SequenceDemos.Run(name, new DemoSettings(small, seed, outDir ?? ".", minutes), device, Console.Out);
        return ExitCodes.Ok;
    }
}
