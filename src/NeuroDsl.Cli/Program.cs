using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Diagnostics;

namespace NeuroDsl.Cli;

/// <summary>The <c>neurodsl</c> command line: each command is one method; errors are messages, never stack traces.</summary>
public static class Program
{
    public const string Usage = """
        neurodsl — compile, train and run NeuroDsl model files (.nd)

        Usage:
          neurodsl check FILE...                          report diagnostics (exit 0 clean, 65 errors)
          neurodsl summary FILE [--model NAME] [--json]   layers, shapes, parameters, multiply-adds, connections
          neurodsl ir FILE [--model NAME]                 the typed graph IR with its backward pass
          neurodsl plan FILE [--model NAME]               the execution plan: arena, buffers, shared slots, launches
          neurodsl emit FILE [-o DIR]                     the generated C# and OpenCL C
          neurodsl graph FILE [--model NAME] [-o OUT.dot|OUT.svg]
                                                          the architecture as a Graphviz drawing (SVG needs graphviz)
          neurodsl train FILE [--model NAME] --data SET [options]
                                                          train on the default OpenCL device
          neurodsl run FILE [--model NAME] --weights W.safetensors --inputs X.safetensors --out Y.safetensors
                        [--grads] [--train-mode] [--check-numerics]
                                                          forward (and backward) pass on given weights and inputs
          neurodsl devices                                list OpenCL devices (NEURODSL_DEVICE picks one)
          neurodsl bench [--models DIR] [--rounds R]      the comparison table: sgemm vs OpenBLAS, MLP, LeNet-5,
                                                          Transformer-layer, layer-norm and LSTM training steps
                                                          vs PyTorch, in R alternating rounds (3)
                                                          (run 'bash .ci/bench-setup' first)
          neurodsl bench step FILE [--model NAME] [--batch B] [--steps S] [--size T=128]
                                                          median training-step and forward times of one model
          neurodsl bench gemm [--sizes 256,512,...]       the library sgemm alone (GFLOP/s), for tuning
          neurodsl bench attention [--seq 1024] [--batch 1] [--heads 4] [--head-size 64] [--steps 3] [--causal]
                                                          attention fused (online softmax) and as written: planned
                                                          memory, training-step and forward times

        train options:
          --data fashion-mnist   Fashion-MNIST from Debian's dataset-fashion-mnist (or --data-dir DIR)
          --data DIR             a directory with train-/t10k- images-idx3 and labels-idx1 files (plain or .gz)
          --data xor|blobs       built-in sets for the dense models (XOR patterns; two separable blobs)
          --epochs E             passes over the data (fashion-mnist: 3; xor/blobs: until all are right, at most 1000)
          --batch B              batch size (fashion-mnist: 64; xor/blobs: the whole set)
          --optimizer adam|sgd   fashion-mnist: adam; xor/blobs: sgd
          --lr X                 learning rate (adam 1e-3; sgd 0.05 for images, 0.5 for xor/blobs)
          --momentum M           SGD momentum (default 0.9)
          --schedule S           constant (default), step (halve every 2 epochs) or cosine
          --seed S               initialization, shuffling and dropout seed (default 1)
          --checkpoint PATH      where to save after each epoch (default checkpoints/<file>.safetensors)
          --resume PATH          continue from a checkpoint (weights, optimizer state, position)
          --metrics FILE         per-epoch figures as JSON
          --limit N              train on the first N examples only
          --check-numerics       check every layer's output and gradient, naming the first non-finite one (slow)

        Attention written from primitives (softmax(q·kᵀ/c + mask) @ v) compiles to streaming kernels that never store
        the scores; NEURODSL_ATTENTION=unfused compiles it as written.

        run: inputs are named as the model declares them; size symbols (N) come from their shapes. The output
        file holds every output, the loss, and with --grads grad.<parameter> and grad.<input>. Evaluation mode
        (batch norm running statistics, no dropout) unless --train-mode.

        Exit codes: 0 success, 64 usage error, 65 the input has errors (diagnostics, a bad checkpoint, an i32 input
        out of its range) or the numbers went wrong (a NaN or infinite loss; --check-numerics found a layer), 66 a file
        is missing, 69 no OpenCL device or the model does not fit in its memory, 70 internal error. Diagnostics go to stderr as
        path(line,col): error NDxxxx: message.
        Environment: NEURODSL_DEVICE (device index or name substring), NEURODSL_CACHE (program cache directory),
        NEURODSL_PROFILE=1 (time every kernel; slow), NEURODSL_CHECK_NUMERICS=1 (as --check-numerics, for every model).
        """;

    public static int Main(string[] argv)
    {
        // `neurodsl --help`, `neurodsl help` and `neurodsl COMMAND --help` all print the usage.
        if (argv.Length == 0 || argv[0] is "-h" or "--help" or "help" || argv.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.Out.Write(Usage);
            return argv.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
        }
        try
        {
            var rest = argv.Skip(1);
            return argv[0] switch
            {
                "check" => Check(new Args(rest, new HashSet<string>())),
                "summary" => Summary(new Args(rest, new HashSet<string> { "json" })),
                "ir" => Ir(new Args(rest, new HashSet<string>())),
                "plan" => PlanCommand(new Args(rest, new HashSet<string>())),
                "emit" => Emit(new Args(rest, new HashSet<string>())),
                "graph" => Graph(new Args(rest, new HashSet<string>())),
                "train" => TrainCommand.Run(new Args(rest, new HashSet<string> { "check-numerics" })),
                "run" => RunCommand.Run(new Args(rest, new HashSet<string> { "grads", "train-mode", "check-numerics" })),
                "devices" => Devices(),
                "bench" => BenchCommand.Run(new Args(rest, new HashSet<string> { "causal" })),
                _ => throw new UsageException($"unknown command '{argv[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("neurodsl: " + e.Message);
            Console.Error.WriteLine("Run 'neurodsl --help' for usage.");
            return ExitCodes.Usage;
        }
        catch (FileNotFoundException e)
        {
            Console.Error.WriteLine("neurodsl: " + e.Message);
            return ExitCodes.NoInput;
        }
        catch (InvalidDataException e)
        {
            Console.Error.WriteLine("neurodsl: " + e.Message);
            return ExitCodes.DataError;
        }
        catch (NeuroDsl.Runtime.NumericsException e)
        {
            // A loss that became NaN or infinite, or (--check-numerics) the first layer that made one.
            Console.Error.WriteLine("neurodsl: " + e.Message);
            return ExitCodes.DataError;
        }
        catch (NeuroDsl.Runtime.DeviceMemoryException e)
        {
            Console.Error.WriteLine("neurodsl: " + e.Message);
            return ExitCodes.Unavailable;
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("No OpenCL", StringComparison.Ordinal)
                                                  || e.Message.Contains("libOpenCL", StringComparison.Ordinal)
                                                  || e.Message.StartsWith("NEURODSL_DEVICE", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("neurodsl: " + e.Message);
            return ExitCodes.Unavailable;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"neurodsl: internal error: {e.GetType().Name}: {e.Message}");
            return ExitCodes.Internal;
        }
    }

    /// <summary>Reads and compiles a file, printing its diagnostics; null when it has errors.</summary>
    internal static CompileResult? CompileFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
        var result = NeuroCompiler.Compile(path, File.ReadAllText(path), null, AttentionSetting.FromEnvironment());
        foreach (var d in result.Diagnostics) Console.Error.WriteLine(d);
        return result.Success ? result : null;
    }

    internal static ModelOutput PickModel(CompileResult result, string? name, string path)
    {
        if (name is null)
        {
            if (result.Models.Count == 1) return result.Models[0];
            throw new UsageException($"{path} has {result.Models.Count} models ({string.Join(", ", result.Models.Select(m => m.Name))}); pick one with --model");
        }
        return result.Models.FirstOrDefault(m => m.Name == name)
               ?? throw new UsageException($"{path} has no model '{name}' (it has {string.Join(", ", result.Models.Select(m => m.Name))})");
    }

    private static string OneFile(Args args)
    {
        if (args.Positional.Count != 1) throw new UsageException("expected one FILE");
        return args.Positional[0];
    }

    private static int Check(Args args)
    {
        args.CheckUnknown();
        if (args.Positional.Count == 0) throw new UsageException("expected at least one FILE");
        var errors = 0;
        foreach (var path in args.Positional)
        {
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"{path}: error: no such file");
                errors++;
                continue;
            }
            var result = CompileFile(path);
            if (result is null) errors++;
            else Console.Out.WriteLine($"{path}: ok ({string.Join(", ", result.Models.Select(m => m.Name))})");
        }
        return errors == 0 ? ExitCodes.Ok : ExitCodes.DataError;
    }

    private static int Summary(Args args)
    {
        var json = args.Has("json");
        var name = args.Get("model");
        args.CheckUnknown();
        var path = OneFile(args);
        var result = CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var models = name is null ? result.Models : new[] { PickModel(result, name, path) };
        if (json)
            Console.Out.Write(NeuroDsl.Compiler.Emit.SummaryWriter.Json(models.Select(m => (m.Ir, m.Plan))));
        else
            Console.Out.Write(string.Join("\n", models.Select(m => NeuroDsl.Compiler.Emit.SummaryWriter.Text(m.Ir, m.Plan))));
        return ExitCodes.Ok;
    }

    private static int Ir(Args args) => PrintEach(args, (m, _) => m.Ir.Graph.Print());

    private static int PlanCommand(Args args) =>
        PrintEach(args, (m, path) => AttentionSetting.MemoryLine(m, path) + NeuroDsl.Compiler.Emit.PlanPrinter.Print(m.Plan, Path.GetFileName(path)));

    /// <summary>Compiles FILE and prints one intermediate form of each model (or of --model NAME).</summary>
    private static int PrintEach(Args args, Func<ModelOutput, string, string> print)
    {
        var name = args.Get("model");
        args.CheckUnknown();
        var path = OneFile(args);
        var result = CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        foreach (var m in name is null ? result.Models : new[] { PickModel(result, name, path) })
        {
            Console.Out.WriteLine($"# model {m.Name}");
            Console.Out.Write(print(m, path));
        }
        return ExitCodes.Ok;
    }

    private static int Emit(Args args)
    {
        var dir = args.Get("o", "output");
        args.CheckUnknown();
        var path = OneFile(args);
        var result = CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        foreach (var m in result.Models)
        {
            if (dir is null)
            {
                Console.Out.WriteLine($"// ===== {m.Name}.g.cs");
                Console.Out.Write(m.CSharp);
                Console.Out.WriteLine($"// ===== {m.Name}.cl");
                Console.Out.Write(m.KernelSource);
            }
            else
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, m.Name + ".g.cs"), m.CSharp);
                File.WriteAllText(Path.Combine(dir, m.Name + ".cl"), m.KernelSource);
                Console.Out.WriteLine($"wrote {Path.Combine(dir, m.Name + ".g.cs")} and {Path.Combine(dir, m.Name + ".cl")}");
            }
        }
        return ExitCodes.Ok;
    }

    private static int Graph(Args args)
    {
        var name = args.Get("model");
        var output = args.Get("o", "output");
        args.CheckUnknown();
        var path = OneFile(args);
        var result = CompileFile(path);
        if (result is null) return ExitCodes.DataError;
        var dot = NeuroDsl.Compiler.Emit.DotWriter.Write(PickModel(result, name, path).Ir);
        if (output is null)
        {
            Console.Out.Write(dot);
            return ExitCodes.Ok;
        }
        if (!output.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
        {
            File.WriteAllText(output, dot);
            Console.Out.WriteLine($"wrote {output}");
            return ExitCodes.Ok;
        }
        var info = new System.Diagnostics.ProcessStartInfo("dot", "-Tsvg") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine("neurodsl: rendering SVG needs Graphviz's 'dot' (Debian: apt-get install graphviz); write a .dot file instead with -o FILE.dot");
            return ExitCodes.Unavailable;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(dot);
            process.StandardInput.Close();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine("neurodsl: dot failed: " + stderr.Result.Trim());
                return ExitCodes.Internal;
            }
            File.WriteAllText(output, stdout.Result);
        }
        Console.Out.WriteLine($"wrote {output}");
        return ExitCodes.Ok;
    }

    private static int Devices()
    {
        var devices = NeuroDsl.Runtime.Device.List();
        if (devices.Count == 0)
        {
            Console.Error.WriteLine("neurodsl: no OpenCL device found. Install pocl-opencl-icd (CPU) or your GPU vendor's OpenCL driver.");
            return ExitCodes.Unavailable;
        }
        foreach (var d in devices)
            Console.Out.WriteLine($"{d.Index}: {d.Name} — {d.Platform}, {(d.IsGpu ? "GPU" : "CPU")}, {d.ComputeUnits} compute units, {d.GlobalMemory / (1 << 20)} MiB, driver {d.DriverVersion}");
        return ExitCodes.Ok;
    }
}
