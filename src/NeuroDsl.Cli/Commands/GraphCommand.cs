using System;
using System.CommandLine;
using System.Diagnostics;
using System.IO;
using NeuroDsl.Compiler.Emit;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl graph FILE [-o OUT]</c>: the architecture as Graphviz DOT; the output's extension picks the format
/// (.dot/.gv as text; .svg, .png and .pdf rendered by Graphviz's <c>dot</c>).
/// </summary>
internal static class GraphCommand
{
    private static readonly string[] Rendered = { ".svg", ".png", ".pdf" };

    public static Command Build()
    {
        var file = CommandLine.FileArgument();
        var model = CommandLine.ModelOption();
        var output = new Option<string?>("--output", "-o")
        {
            Description = "the file to write; its extension picks the format: .dot or .gv (DOT text), .svg, .png or .pdf "
                + "(rendered by Graphviz's dot). Default: DOT on stdout",
            HelpName = "OUT",
        };
        var command = new Command("graph", "The architecture as a Graphviz drawing.") { file, model, output }
            .WithExamples("neurodsl graph models/lenet5.nd -o lenet5.svg", "neurodsl graph models/xor_mlp.nd | dot -Tpng > xor.png");
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(model), r.GetValue(output)));
        return command;
    }

    public static int Run(string path, string? modelName, string? output)
    {
        var format = output is null ? null : Path.GetExtension(output).ToLowerInvariant();
        if (output is not null)
        {
            if (format is not (".dot" or ".gv") && Array.IndexOf(Rendered, format) < 0)
                throw new UsageException($"-o {output}: give the file one of the extensions .dot, .gv, .svg, .png, .pdf");
            OutputFiles.CheckFile(output, "-o");
        }
        var result = Program.CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var dot = DotWriter.Write(Program.PickModel(result, modelName, path).Ir);
        if (output is null)
        {
            Console.Out.Write(dot);
            return ExitCodes.Ok;
        }
        if (format is ".dot" or ".gv") OutputFiles.Write(output, dot);
        else Render(dot, format![1..], output);
        Console.Out.WriteLine($"wrote {output}");
        return ExitCodes.Ok;
    }

    private static void Render(string dot, string format, string output)
    {
        var info = new ProcessStartInfo("dot", new[] { "-T" + format, "-o", output })
        {
            RedirectStandardInput = true, RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new UnavailableException($"rendering .{format} needs Graphviz's 'dot' (Debian: apt-get install graphviz); "
                + "write a .dot file instead with -o FILE.dot");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(dot);
            process.StandardInput.Close();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException("dot failed: " + stderr.Result.Trim());
        }
    }
}
