using System;
using System.IO;
using System.Linq;
using System.Text;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Emit;
using SharpFuzz;

namespace NeuroDsl.Fuzz;

/// <summary>
/// AFL++ target: each input's bytes, decoded as UTF-8, are compiled front to back (parse, bind, differentiate,
/// plan, emit C# and OpenCL) by <see cref="NeuroCompiler.Compile"/>, and each model that compiles is printed as the
/// CLI prints it (summary, JSON summary, IR, plan, diagram). A crash is what the compiler promises never to do: an
/// exception escaping Compile or a printer, a process-killing stack overflow, or an internal error (ND0999) — the
/// last is turned into an exception here so that AFL records the input.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        // `NeuroDsl.Fuzz FILE...` replays inputs (a crash AFL found) outside AFL.
        if (args.Length > 0)
        {
            foreach (var path in args) Check(File.ReadAllBytes(path), path);
            return;
        }
        Fuzzer.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            Check(buffer.ToArray(), "fuzz.nd");
        });
    }

    private static void Check(byte[] bytes, string name)
    {
        var text = Encoding.UTF8.GetString(bytes);
        var result = NeuroCompiler.Compile("fuzz.nd", text);
        var internalError = result.Diagnostics.FirstOrDefault(d => d.Id == "ND0999");
        if (internalError is not null) throw new InvalidOperationException(name + ": " + internalError);
        if (!result.Success && result.Models.Count > 0) throw new InvalidOperationException(name + ": models on error");
        foreach (var d in result.Diagnostics)
            if (d.Span.Line < 1 || d.Span.Column < 1 || string.IsNullOrWhiteSpace(d.Message))
                throw new InvalidOperationException(name + ": unlocated diagnostic " + d);
        foreach (var model in result.Models)
        {
            _ = SummaryWriter.Text(model.Ir, model.Plan);
            _ = model.Ir.Graph.Print();
            _ = PlanPrinter.Print(model.Plan, "fuzz.nd");
            _ = DotWriter.Write(model.Ir);
        }
        if (result.Models.Count > 0) _ = SummaryWriter.Json(result.Models.Select(m => (m.Ir, m.Plan)));
    }
}
