using System;
using System.CommandLine;
using System.Linq;
using NeuroDsl.Compiler.Emit;

namespace NeuroDsl.Cli.Commands;

/// <summary><c>neurodsl summary FILE [--model NAME] [--json]</c>: layers, shapes, parameters, multiply-adds.</summary>
internal static class SummaryCommand
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var json = new Option<bool>("--json") { Description = "machine-readable output (an array, one object per model)" };
        var command = new Command("summary", "Layers, shapes, parameters, multiply-adds and connections of each model.") { file, model, json }
            .WithExamples("neurodsl summary models/lenet5.nd", "neurodsl summary models/gru.nd --model GruLm --json");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), r.GetValue(json)));
        return command;
    }

    public static int Run(string path, string? modelName, bool json)
    {
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var models = modelName is null ? result.Models : new[] { Program.PickModel(result, modelName, path) };
        if (json) Console.Out.Write(SummaryWriter.Json(models.Select(m => (m.Ir, m.Plan))));
        else Console.Out.Write(string.Join("\n", models.Select(m => SummaryWriter.Text(m.Ir, m.Plan))));
        return ExitCodes.Ok;
    }
}
