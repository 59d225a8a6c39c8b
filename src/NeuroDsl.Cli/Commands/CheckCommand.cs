using System;
using System.CommandLine;
using System.IO;
using System.Linq;

namespace NeuroDsl.Cli.Commands;

/// <summary><c>neurodsl check FILE|DIR...</c>: compile and report diagnostics; a directory means its .nd files.</summary>
internal static class CheckCommand
{
    public static Command Build()
    {
        var files = new Argument<string[]>("FILE") { Description = "model files (.nd), or directories of them", Arity = ArgumentArity.OneOrMore };
        var command = new Command("check", "Report the diagnostics of model files (exit 0 when clean, 65 with errors).") { files }
            .WithExamples("neurodsl check models/lenet5.nd", "neurodsl check models/");
        command.SetAction(r => Run(r.GetValue(files)!));
        return command;
    }

    public static int Run(string[] paths)
    {
        var errors = 0;
        var checkedFiles = 0;
        foreach (var given in paths)
        {
            var files = Directory.Exists(given)
                ? Directory.GetFiles(given, "*.nd").OrderBy(f => f, StringComparer.Ordinal).ToArray()
                : new[] { given };
            if (files.Length == 0)
            {
                Console.Error.WriteLine($"{given}: error: the directory has no .nd files");
                errors++;
            }
            foreach (var path in files)
            {
                checkedFiles++;
                if (!File.Exists(path))
                {
                    Console.Error.WriteLine($"{path}: error: no such file");
                    errors++;
                    continue;
                }
                var result = Program.CompileFile(path);
                if (result is null) errors++;
                else Console.Out.WriteLine($"{path}: ok ({string.Join(", ", result.Models.Select(m => m.Name))})");
            }
        }
        if (checkedFiles > 1) Console.Out.WriteLine($"{CommandLine.Count(checkedFiles, "file")} checked, {errors} with errors");
        return errors == 0 ? ExitCodes.Ok : ExitCodes.DataError;
    }
}
