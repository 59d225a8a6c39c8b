using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using NeuroDsl.Compiler;
using NeuroDsl.Compiler.Ir;
using NeuroDsl.Compiler.Planning;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli;

/// <summary>
/// Instantiates a model compiled at run time: the same C# the source generator emits, compiled in memory
/// with Roslyn (once: the assembly is cached on disk) — one code path for the generator and the command line.
/// </summary>
public static class ModelLoader
{
    /// <summary>The model's type, from the on-disk cache of model assemblies (<see cref="AssemblyCache"/>) or compiled.</summary>
    public static Type Compile(ModelOutput model) => AssemblyCache.Load(model.Name, model.CSharp, AssemblyCache.Directory).Type;

    /// <summary>
    /// Creates an instance for a command: first checks that the plan fits the device (before anything is allocated),
    /// then tells the instance what the compiler knows — the valid range of each i32 input and where each launch comes
    /// from — and whether to check numerics.
    /// </summary>
    public static CompiledModel Create(ModelOutput output, Type type, Device device, IReadOnlyDictionary<string, long> symbols,
        ulong seed, bool checkNumerics = false)
    {
        CheckFits(output, device, symbols);
        var model = Create(type, device, symbols, seed);
        foreach (var range in InputRanges.Of(output.Ir.Graph))
            model.SetInputRange(range.Input, range.Limit, range.Use);
        model.LaunchSites = LaunchSites(output);
        if (checkNumerics) model.CheckNumerics = true;
        return model;
    }

    /// <summary>
    /// Device bytes a plan allocates for the given sizes (parameter and gradient arenas, inputs, outputs and the shared
    /// temporaries; optimizer state comes on top), in checked 64-bit arithmetic.
    /// </summary>
    public static long PlannedBytes(Plan plan, IReadOnlyDictionary<string, long> symbols)
    {
        long Elements(Dim d)
        {
            var n = d.Coef;
            foreach (var s in d.SymbolList) n = checked(n * (symbols.TryGetValue(s, out var v) ? v : 1));
            return Math.Max(1, n);
        }
        var total = checked(2 * plan.ArenaElements * 4);
        foreach (var slot in plan.Slots) total = checked(total + Elements(slot) * 4);
        foreach (var b in plan.Buffers.Where(b => b.Slot < 0 && b.Kind is not StorageKind.Param and not StorageKind.Grad))
            total = checked(total + Elements(b.Elements) * 4);
        return total;
    }

    /// <summary>Refuses, before allocating anything, a plan larger than the device's memory or its largest buffer.</summary>
    public static void CheckFits(ModelOutput output, Device device, IReadOnlyDictionary<string, long> symbols)
    {
        var sizes = string.Join(", ", symbols.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));
        var at = output.Name + (sizes.Length == 0 ? "" : " at " + sizes);
        long planned;
        try
        {
            planned = PlannedBytes(output.Plan, symbols);
        }
        catch (OverflowException)
        {
            throw new DeviceMemoryException($"{at} plans more bytes than 64 bits count; use a smaller batch");
        }
        string B(long bytes) => bytes.ToString("N0", CultureInfo.InvariantCulture) + " bytes";
        if (device.Info.GlobalMemory > 0 && planned > device.Info.GlobalMemory)
            throw new DeviceMemoryException($"{at} plans {B(planned)} of device memory; {device.Info.Name} has "
                + $"{B(device.Info.GlobalMemory)}. Use a smaller batch");
    }

    /// <summary>Where each launch of the plan comes from, in the order the generated constructor binds the kernels.</summary>
    public static IReadOnlyList<string> LaunchSites(ModelOutput output)
    {
        var graph = output.Ir.Graph;
        var file = Path.GetFileName(output.Ir.Span.File);
        var fusedChains = output.Plan.Kernels
            .Select(k => (k.Name, Line: k.Code.Split('\n').FirstOrDefault(l => l.StartsWith("// Fused: ", StringComparison.Ordinal))))
            .Where(k => k.Line is not null)
            .GroupBy(k => k.Name).ToDictionary(g => g.Key, g => g.First().Line!["// Fused: ".Length..].Trim(), StringComparer.Ordinal);
        string Site(Launch launch, bool backward)
        {
            var node = graph[launch.Nodes[0]];
            // The node's name ('z', 'grad.z'), its op, and the .nd line with its text.
            var line = launch.SourceLine.Length == 0 ? "" : $" at {file}:{launch.Line}  {launch.SourceLine}";
            // A fused kernel computes a chain of ops and stores only its end: the check sees the stored value, so the
            // whole chain is named (the emitter's "// Fused:" line), not only the op the kernel is named after.
            var chain = fusedChains.TryGetValue(launch.Kernel, out var c) ? c : null;
            var fused = chain is null ? "" : $"; one fused kernel computes {chain} and stores only its end: any of them may have made it";
            return (backward ? "the gradient " : "the forward output ") + $"'{node.Name}' ({node.Op}{line}{fused})";
        }
        return output.Plan.Forward.Select(l => Site(l, false)).Concat(output.Plan.Backward.Select(l => Site(l, true))).ToList();
    }

    /// <summary>Creates an instance: symbols (the batch size N first) in the order the model declares them.</summary>
    public static CompiledModel Create(Type type, Device device, IReadOnlyDictionary<string, long> symbols, ulong seed)
    {
        var ctor = type.GetConstructors().Single();
        var ps = ctor.GetParameters();
        var args = new object[ps.Length];
        args[0] = device;
        var names = ps.Skip(1).Take(ps.Length - 2).Select(p => p.Name!).ToList();
        foreach (var given in symbols.Keys.Where(k => !names.Contains(k)))
            throw new UsageException($"{type.Name} has no size symbol {given} (its sizes: {string.Join(", ", names)}); "
                + "a constant set in the model file is changed there");
        for (var i = 1; i < ps.Length - 1; i++)
            args[i] = symbols.TryGetValue(ps[i].Name!, out var v) ? checked((int)v)
                : throw new UsageException($"{type.Name} has a size symbol {ps[i].Name} this command does not set: "
                    + $"'bench step' takes it as --size {ps[i].Name}=…, 'run' reads it from the inputs' shapes");
        args[^1] = seed;
        try
        {
            return (CompiledModel)ctor.Invoke(args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
