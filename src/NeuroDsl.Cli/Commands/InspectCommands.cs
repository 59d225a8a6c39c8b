using System;
using System.CommandLine;
using System.IO;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Emit;

namespace NeuroDsl.Cli.Commands;

/// <summary><c>neurodsl ir</c> and <c>neurodsl plan</c>: one intermediate form of each model (or of --model NAME).</summary>
internal static class InspectCommands
{
    public static Command Ir() => Build("ir", "The typed graph IR of each model, with its backward pass.",
        (m, _) => m.Ir.Graph.Print(), "neurodsl ir models/xor_mlp.nd");

    public static Command Plan() => Build("plan", "The execution plan: arena, buffers, shared slots, launches.",
        (m, path) => AttentionSetting.MemoryLine(m, path) + PlanPrinter.Print(m.Plan, Path.GetFileName(path)), "neurodsl plan models/lenet5.nd");

    private static Command Build(string name, string description, Func<ModelOutput, string, string> print, string example)
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var command = new Command(name, description) { file, model }.WithExamples(example);
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), print));
        return command;
    }

    public static int Run(string path, string? modelName, Func<ModelOutput, string, string> print)
    {
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        foreach (var m in modelName is null ? result.Models : new[] { Program.PickModel(result, modelName, path) })
        {
            Console.Out.WriteLine($"# model {m.Name}");
            Console.Out.Write(print(m, path));
        }
        return ExitCodes.Ok;
    }
}
