using System;
using System.CommandLine;
using System.IO;

namespace NeuroDsl.Cli.Commands;

/// <summary><c>neurodsl emit FILE [-o DIR]</c>: the generated C# and OpenCL C of every model.</summary>
internal static class EmitCommand
{
    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var output = new Option<string?>("--output", "-o") { Description = "a directory for MODEL.g.cs and MODEL.cl (default: stdout)", HelpName = "DIR" };
        var command = new Command("emit", "The generated C# and OpenCL C of each model.") { file, output }
            .WithExamples("neurodsl emit models/xor_mlp.nd", "neurodsl emit models/lenet5.nd -o generated/");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(output)));
        return command;
    }

    public static int Run(string path, string? dir)
    {
        if (dir is not null && File.Exists(dir)) throw new OutputException($"-o {dir} is a file; it names the directory to write into");
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        if (dir is not null) OutputFiles.CheckDirectory(dir, "-o");
        foreach (var m in result.Models)
        {
            if (dir is null)
            {
                Console.Out.WriteLine($"// ===== {m.Name}.g.cs");
                Console.Out.Write(m.CSharp);
                Console.Out.WriteLine($"// ===== {m.Name}.cl");
                Console.Out.Write(m.KernelSource);
                continue;
            }
            var cs = Path.Combine(dir, m.Name + ".g.cs");
            var cl = Path.Combine(dir, m.Name + ".cl");
            OutputFiles.Write(cs, m.CSharp);
            OutputFiles.Write(cl, m.KernelSource);
            Console.Out.WriteLine($"wrote {cs} and {cl}");
        }
        return ExitCodes.Ok;
    }
}
