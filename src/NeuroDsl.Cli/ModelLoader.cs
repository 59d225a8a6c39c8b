using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NeuroDsl.Compiler;
using NeuroDsl.Runtime;

namespace NeuroDsl.Cli;

/// <summary>
/// Instantiates a model compiled at run time: the same C# the source generator emits, compiled in memory
/// with Roslyn — one code path for the generator and the command line.
/// </summary>
public static class ModelLoader
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Append(typeof(CompiledModel).Assembly.Location)
        .Where(p => p.Length > 0 && File.Exists(p))
        .Distinct()
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .ToArray());

    public static Type Compile(ModelOutput model)
    {
        var tree = CSharpSyntaxTree.ParseText(model.CSharp, new CSharpParseOptions(LanguageVersion.Latest), path: model.Name + ".g.cs");
        var compilation = CSharpCompilation.Create("NeuroDsl.Dynamic." + model.Name, new[] { tree }, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release,
                nullableContextOptions: NullableContextOptions.Enable));
        using var stream = new MemoryStream();
        var emitted = compilation.Emit(stream);
        if (!emitted.Success)
        {
            var errors = string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10));
            throw new InvalidProgramException($"generated C# for {model.Name} did not compile:\n{errors}");
        }
        var assembly = Assembly.Load(stream.ToArray());
        return assembly.GetTypes().First(t => t.Name == model.Name && typeof(CompiledModel).IsAssignableFrom(t));
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
