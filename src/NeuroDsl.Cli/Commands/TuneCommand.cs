using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Runtime;
using NeuroDsl.Runtime.Tuning;

namespace NeuroDsl.Cli.Commands;

/// <summary>
/// <c>neurodsl tune [FILE] [--batch B] [--size T=128] [--budget S] [--only gemm|kernels]</c>: searches the GEMM's
/// parameters for this device on a model's products (or the bench and MLP training shapes) and, with a model, the
/// settings of its generated kernels (<see cref="KernelTuner"/>) on its training pass; stores the fastest correct
/// choices in the cache.
/// </summary>
internal static class TuneCommand
{
    public static Command Build()
    {
        var file = new Argument<string?>("FILE") { Description = "a model file (.nd) whose products to tune on (default: the bench shapes)", Arity = ArgumentArity.ZeroOrOne };
        var model = CommandLine.ModelOption();
        var batch = CommandLine.PositiveInt("--batch", "the batch size N of the model's products (default 64)", "B");
        var size = BenchCommand.SizeOption();
        var budget = CommandLine.PositiveInt("--budget", "seconds of search, about (default 120)", "S");
        var only = new Option<string?>("--only")
        {
            Description = "tune only the GEMM's tile (gemm) or only the model's kernel settings (kernels)", HelpName = "gemm|kernels",
        };
        var command = new Command("tune", "Search the GEMM's tile for this device and, given a model, the settings of its "
            + "generated kernels (lanes per row and per element, a convolution's pixels per work-item, the GPU group); cache the fastest correct ones (by device and driver, beside "
            + "the program cache).") { file, model, batch, size, budget, only }
            .WithExamples("neurodsl tune", "neurodsl tune models/lenet5.nd --batch 64", "neurodsl tune models/mlp.nd --only kernels --budget 30");
        command.SetAction(r => Run(r.GetValue(file), r.GetValue(model), r.GetValue(batch) ?? 64,
            BenchCommand.Sizes(r.GetValue(size) ?? Array.Empty<string>()), r.GetValue(budget) ?? 120, r.GetValue(only)));
        return command;
    }

    public static int Run(string? path, string? modelName, int batch, Dictionary<string, long> symbols, int budget, string? only = null)
    {
        if (only is not (null or "gemm" or "kernels"))
            throw new UsageException($"--only takes gemm or kernels, not '{only}'");
        if (only == "kernels" && path is null)
            throw new UsageException("--only kernels tunes a model's kernels: give the model file, e.g. neurodsl tune models/lenet5.nd --only kernels");
        IReadOnlyList<GemmProduct> products;
        string what;
        Compiler.ModelOutput? output = null;
        if (path is null)
        {
            products = GemmProduct.BenchShapes;
            what = "the bench shapes";
        }
        else
        {
            if (symbols.ContainsKey("N")) throw new UsageException("the batch size N is --batch, not --size N=…");
            symbols["N"] = batch;
            var result = Program.CompileFile(path);
            if (result is null) return ExitCodes.DataError;
            output = Program.PickModel(result, modelName, path);
            foreach (var given in symbols.Keys.Where(k => !output.Ir.Symbols.Contains(k)))
                throw new UsageException($"{output.Name} has no size symbol {given} (its sizes: {string.Join(", ", output.Ir.Symbols)}); "
                    + "a constant set in the model file is changed there");
            var missing = output.Plan.Forward.Concat(output.Plan.Backward).SelectMany(l => l.Global)
                .SelectMany(d => d.SymbolList).Distinct().Where(s => !symbols.ContainsKey(s)).ToList();
            if (missing.Count > 0)
                throw new UsageException($"{output.Name} has the size symbol{(missing.Count > 1 ? "s" : "")} "
                    + string.Join(", ", missing) + "; give " + (missing.Count > 1 ? "them" : "it") + " with --size, e.g. --size " + missing[0] + "=128");
            products = only == "kernels" ? Array.Empty<GemmProduct>() : Products(output.Plan, symbols);
            what = $"{output.Name} at batch {batch}";
            if (products.Count == 0 && only == "gemm")
            {
                Console.Error.WriteLine($"neurodsl: {output.Name} runs no tiled GEMM at batch {batch}; nothing to tune");
                return ExitCodes.Ok;
            }
            if (products.Count == 0 && only is null)
                Console.Error.WriteLine($"tune: {output.Name} runs no tiled GEMM at batch {batch}; tuning its kernel settings alone");
        }
        using var device = Device.Open();
        // A model's search shares the budget: half to the GEMM's tile where there is one, the rest to the kernels.
        var kernelsToo = output is not null && only != "gemm";
        var gemmBudget = products.Count == 0 ? 0 : kernelsToo ? Math.Max(1, budget / 2) : budget;
        if (products.Count > 0)
        {
            var code = TuneGemm(device, products, what, gemmBudget, byTotal: path is not null);
            if (code != ExitCodes.Ok) return code;
        }
        return kernelsToo ? TuneKernels(device, output!, symbols, what, Math.Max(1, budget - gemmBudget)) : ExitCodes.Ok;
    }

    private static int TuneGemm(Device device, IReadOnlyList<GemmProduct> products, string what, int budget, bool byTotal)
    {
        var before = device.Gemm;
        var gpu = LibraryKernels.IsGpuShape(device);
        Console.Error.WriteLine($"tune: {device.Info.Name} ({device.Info.Profile.Isa}, {device.Info.ComputeUnits} compute units), "
            + $"{products.Count} products of {what}: " + string.Join(", ", products));
        Console.Error.WriteLine($"tune: running now: {before.Config.Describe(gpu)} ({before.Source}); about {budget} s of search");
        var tuner = new GemmTuner(device, products, Console.Error.WriteLine, byTotal);
        var best = tuner.Run(TimeSpan.FromSeconds(budget));
        if (best.Refused is { } why)
        {
            Console.Error.WriteLine($"neurodsl: the default GEMM failed its reference check ({why}); nothing stored");
            return ExitCodes.Internal;
        }
        var shapes = string.Join(", ", products);
        var passed = tuner.Tried.Count(t => t.Refused is null);
        var note = string.Create(CultureInfo.InvariantCulture,
            $"{passed} of {tuner.Tried.Count} candidates passed the reference check; the chosen one runs in {best.Score:F3} x the default's time");
        var stored = GemmTuning.Store(device, best.Config, $"{what} ({shapes})", note);
        Console.Out.WriteLine($"{device.Info.Name}: {best.Config.Describe(gpu)}");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {best.Score:F3} x the time of the default ({tuner.Tried[0].Config.Describe(gpu)}) over {products.Count} products; {note[..note.IndexOf(';')]}"));
        Console.Out.WriteLine($"  stored in {stored}");
        return ExitCodes.Ok;
    }

    private static int TuneKernels(Device device, Compiler.ModelOutput output, IReadOnlyDictionary<string, long> symbols, string what, int budget)
    {
        var axes = KernelSettings.Axes(device.Info.Profile, device.GpuShapes).Where(a => a.Values.Length > 0).Select(a => a.Setting);
        var used = KernelTuner.Used(output).Where(axes.Contains).ToList();
        if (used.Count == 0)
        {
            Console.Error.WriteLine($"neurodsl: {output.Name}'s kernels read none of the kernel settings (lanes per row or per element, a convolution's pixels per work-item, the GPU group); nothing to tune");
            return ExitCodes.Ok;
        }
        var before = device.Kernels;
        Console.Error.WriteLine($"tune: kernel settings of {what} (it reads {(used.Count == 1 ? used[0] : string.Join(", ", used.Take(used.Count - 1)) + " and " + used[^1])}); "
            + $"running now: {device.Settings} ({before.Source}{(device.Settings != before.Settings ? "; NEURODSL_* variables override it, and will override the choice while set" : "")}); "
            + $"about {budget} s of search");
        var tuner = new KernelTuner(output, ModelLoader.Compile(output), device, symbols, Console.Error.WriteLine);
        var best = tuner.Run(TimeSpan.FromSeconds(budget));
        if (best.Refused is { } why)
        {
            Console.Error.WriteLine($"neurodsl: the default kernel settings failed their check ({why}); nothing stored");
            return ExitCodes.Internal;
        }
        var passed = tuner.Tried.Count(t => t.Refused is null);
        var note = string.Create(CultureInfo.InvariantCulture,
            $"{passed} of {tuner.Tried.Count} candidates passed the check against {tuner.CheckedAgainst}; the chosen one runs in {best.Score:F3} x the default's time");
        var stored = KernelTuning.Store(device, best.Settings, device.GpuShapes, what, note);
        Console.Out.WriteLine($"{device.Info.Name}: {best.Settings}{(device.GpuShapes ? " (GPU shapes)" : "")}");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {best.Score:F3} x the time of the default ({tuner.Tried[0].Settings}) on {what}; {note[..note.IndexOf(';')]}"));
        Console.Out.WriteLine($"  stored in {stored}");
        return ExitCodes.Ok;
    }

    /// <summary>The distinct products the model's tiled GEMMs run (a batched one as its batch of rows stacked).</summary>
    internal static IReadOnlyList<GemmProduct> Products(Plan plan, IReadOnlyDictionary<string, long> symbols)
    {
        var products = new List<GemmProduct>();
        foreach (var launches in new[] { plan.Forward, plan.Backward })
            for (var i = 0; i < launches.Count; i++)
            {
                var l = launches[i];
                if (l.Variant is not (Compiler.Planning.KernelVariant.TiledGemm or Compiler.Planning.KernelVariant.TiledGemmBatched)) continue;
                int Value(int arg) => checked((int)l.Args[arg].Int!.Value.Eval(symbols));
                var rows = Value(0) * (l.Global.Count > 2 ? checked((int)l.Global[2].Eval(symbols)) : 1);
                // The pack launch before it says whether B is transposed (its third argument).
                var tb = i > 0 && launches[i - 1].Kernel.StartsWith("nd_gemm_pack_b", StringComparison.Ordinal)
                         && launches[i - 1].Args[2].Int is { } flag && flag.Eval(symbols) != 0;
                var product = new GemmProduct(rows, Value(1), Value(2), Value(3) != 0 && l.Global.Count == 2, tb);
                if (!products.Contains(product)) products.Add(product);
            }
        return products;
    }
}
