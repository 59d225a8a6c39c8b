using System;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace NeuroDsl.Cli;

/// <summary>
/// Compiles a model's generated C# in memory with Roslyn. The only class of the tool that names Roslyn's types, and
/// reached only on a miss of <see cref="AssemblyCache"/>: a run whose model assembly is cached never loads Roslyn.
/// </summary>
internal static class RoslynCompiler
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Append(typeof(NeuroDsl.Runtime.CompiledModel).Assembly.Location)
        .Where(p => p.Length > 0 && File.Exists(p))
        .Distinct()
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .ToArray());

    /// <summary>The assembly <c>NeuroDsl.Dynamic.NAME</c> of <paramref name="csharp"/>, as bytes.</summary>
    public static byte[] Emit(string name, string csharp)
    {
        var tree = CSharpSyntaxTree.ParseText(csharp, new CSharpParseOptions(LanguageVersion.Latest),
            path: name + ".g.cs");
        var options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary,
            optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable);
        var compilation = CSharpCompilation.Create(AssemblyCache.AssemblyName(name), new[] { tree }, References.Value, options);
        using var stream = new MemoryStream();
        var emitted = compilation.Emit(stream);
        if (!emitted.Success)
        {
            var errors = string.Join("\n",
                emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10));
            throw new InvalidProgramException($"generated C# for {name} did not compile:\n{errors}");
        }
        return stream.ToArray();
    }
}
