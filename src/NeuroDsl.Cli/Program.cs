using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Cli.Commands;

namespace NeuroDsl.Cli;

/// <summary>
/// The <c>neurodsl</c> command line on System.CommandLine: each command is one class under Commands/ with a
/// <c>Build()</c> that declares its arguments and options and a <c>Run(...)</c> that takes the parsed values.
/// Adding a command is one class and one line in <see cref="Root"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        BuildProgress.Install();
        return CommandLine.Invoke(Root(), args);
    }

    /// <summary>Every command, in the order the help lists them.</summary>
    internal static RootCommand Root() => new("neurodsl — compile, train and run NeuroDsl model files (.nd)")
    {
        CheckCommand.Build(),
        SummaryCommand.Build(),
        InspectCommands.Ir(),
        InspectCommands.Plan(),
        EmitCommand.Build(),
        GraphCommand.Build(),
        TrainCommand.Build(),
        RunCommand.Build(),
        GenerateCommand.Build(),
        DemoCommand.Build(),
        Cards.CardCommand.Build(),
        DevicesCommand.Build(),
        BenchCommand.Build(),
        TuneCommand.Build(),
    };

    /// <summary>Reads and compiles a file, printing its diagnostics; null when it has errors.</summary>
    internal static CompileResult? CompileFile(string path)
    {
        if (Directory.Exists(path)) throw new UsageException($"{path} is a directory; name a model file (.nd) in it");
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
        var result = NeuroCompiler.Compile(path, File.ReadAllText(path), options: AttentionSetting.FromEnvironment());
        foreach (var d in result.Diagnostics) Console.Error.WriteLine(d);
        return result.Success ? result : null;
    }

    /// <summary>The model named by --model, or the file's first (with a note when it declares several).</summary>
    internal static ModelOutput PickModel(CompileResult result, string? name, string path)
    {
        var names = string.Join(", ", result.Models.Select(m => m.Name));
        if (name is null)
        {
            if (result.Models.Count > 1)
                Console.Error.WriteLine($"note: {path} declares {result.Models.Count} models ({names}); using {result.Models[0].Name} "
                    + "(pick another with --model NAME)");
            return result.Models[0];
        }
        return result.Models.FirstOrDefault(m => m.Name == name)
               ?? throw new UsageException($"{path} has no model '{name}'; it has {names}");
    }
}
