using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Linq;
using NeuroDsl.Cli.Demos;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl demo NAME</c>: a classic paper's experiment on the default device. The sequence papers
/// (<see cref="SequenceDemos"/>) print their figures and write their plots into <c>-o DIR</c> (default: here); the
/// technique papers (<see cref="TechniqueDemoCommand"/>: dropout, batch norm, Adam, Xavier) train on Fashion-MNIST and
/// write <c>DIR/&lt;model&gt;.metrics.json</c> (default DIR: checkpoints) for the model's card, as does CLIP's contrastive
/// pre-training (<see cref="ClipDemo"/>), which takes the same options but --steps.
/// </summary>
internal static class DemoCommand
{
    public static Command Build()
    {
        var all = SequenceDemos.Names.Concat(TechniqueDemoCommand.Names).ToArray();
        var name = new Argument<string>("NAME") { Description = "the demonstration: " + string.Join(", ", all) };
        name.AcceptOnlyFromAmong(all);
        var seed = CommandLine.PositiveInt("--seed", "initialization and data seed (default 1)", "S");
        var output = new Option<string?>("--out", "-o", "--output")
        {
            Description = "where figures go (sequence demos: default the current directory; technique demos and clip: default checkpoints, "
                + "where neurodsl card finds them)",
            HelpName = "DIR",
        };
        var small = new Option<bool>("--small") { Description = "sequence demos: the size the tests run (seconds, not minutes)" };
        var minutes = CommandLine.PositiveDouble("--minutes", "sequence demos: a time budget per model, replacing the demonstration's own", "M");
        var models = new Option<string?>("--models") { Description = "technique demos and clip: the folder of the zoo's model files (default: models/ when it has the file, else the copy beside the tool)", HelpName = "DIR" };
        var dataDir = new Option<string?>("--data-dir") { Description = "technique demos and clip: where Fashion-MNIST's IDX files are", HelpName = "DIR" };
        var epochs = CommandLine.PositiveInt("--epochs", "technique demos and clip: passes over the data", "E");
        var limit = CommandLine.PositiveInt("--limit", "technique demos and clip: train on the first N examples only");
        var testLimit = CommandLine.PositiveInt("--test-limit", "technique demos and clip: evaluate on the first N test examples only");
        var batch = CommandLine.PositiveInt("--batch", "technique demos and clip: batch size", "B");
        var steps = CommandLine.PositiveInt("--steps", "technique demos (batchnorm): training steps", "S");
        var command = new Command("demo", "A classic paper's experiment: Elman's XOR and letters, Bengio's vanishing gradients, the LSTM's "
            + "long lags, seq2seq and attention reversing digits, word2vec's neighbours; dropout, batch norm, Adam and Xavier "
            + "initialization on Fashion-MNIST; CLIP's contrastive loss on Fashion-MNIST paired with generated captions, then zero-shot "
            + "classification.")
            { name, seed, output, small, minutes, models, dataDir, epochs, limit, testLimit, batch, steps }
            .WithExamples("neurodsl demo long-lag --small", "neurodsl demo attention-reverse -o out/   (writes out/attention_alignment.png)",
                "neurodsl demo dropout && neurodsl card models/dropout_mlp.nd", "neurodsl demo clip --epochs 1 --limit 12800");
        command.SetAction(r =>
        {
            var demo = r.GetValue(name)!;
            var (outDir, s) = (r.GetValue(output), (ulong)(r.GetValue(seed) ?? 1));
            if (SequenceDemos.Owns(demo))
            {
                Refuse(demo, "sequence", (r.GetValue(models), "--models"), (r.GetValue(dataDir), "--data-dir"), (r.GetValue(epochs), "--epochs"),
                    (r.GetValue(limit), "--limit"), (r.GetValue(testLimit), "--test-limit"), (r.GetValue(batch), "--batch"), (r.GetValue(steps), "--steps"));
                return RunSequence(demo, r.GetValue(small), s, outDir, r.GetValue(minutes));
            }
            Refuse(demo, "technique", (r.GetValue(small) ? true : null, "--small"), (r.GetValue(minutes), "--minutes"));
            if (demo == "clip") Refuse(demo, "contrastive", (r.GetValue(steps), "--steps"));
            OutputFiles.CheckDirectory(outDir ?? "checkpoints", "--out");
            return TechniqueDemoCommand.Run(demo, new DemoOptions(r.GetValue(models), outDir ?? "checkpoints", r.GetValue(dataDir),
                r.GetValue(epochs), r.GetValue(limit), r.GetValue(testLimit), r.GetValue(batch), r.GetValue(steps), s), Console.Out);
        });
        return command;
    }

    private static void Refuse(string demo, string kind, params (object? Value, string Option)[] options)
    {
        var given = options.Where(o => o.Value is not null).Select(o => o.Option).ToList();
        if (given.Count > 0)
            throw new UsageException($"{string.Join(", ", given)} {(given.Count == 1 ? "does" : "do")} not apply to the {kind} demonstration {demo}; "
                + "see 'neurodsl demo --help' for which options each kind takes");
    }

    private static int RunSequence(string name, bool small, ulong seed, string? outDir, double? minutes)
    {
        if (outDir is not null) OutputFiles.CheckDirectory(outDir, "--out");
        using var device = Device.Open();
        SequenceDemos.Run(name, new DemoSettings(small, seed, outDir ?? ".", minutes), device, Console.Out);
        return ExitCodes.Ok;
    }
}
