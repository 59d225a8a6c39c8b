using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace NeuroDsl.Generator.Tests;

/// <summary>An in-memory AdditionalText, as the IDE and the build hand `.nd` files to the generator.</summary>
public sealed class InMemoryText : AdditionalText
{
    private readonly string? _text;

    public InMemoryText(string path, string? text)
    {
        Path = path;
        _text = text;
    }

    public override string Path { get; }

    public override SourceText? GetText(CancellationToken cancellationToken = default) =>
        _text is null ? null : SourceText.From(_text);
}

/// <summary>Drives <see cref="NeuroDslGenerator"/> through Roslyn's CSharpGeneratorDriver over a real compilation.</summary>
public static class GeneratorHarness
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Append(typeof(NeuroDsl.Runtime.CompiledModel).Assembly.Location)
        .Distinct()
        .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
        .ToArray());

    public static CSharpCompilation EmptyCompilation() =>
        CSharpCompilation.Create("GeneratorTest", Array.Empty<SyntaxTree>(), References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(params AdditionalText[] files) =>
        CSharpGeneratorDriver.Create(
            new[] { new NeuroDslGenerator().AsSourceGenerator() },
            files.ToImmutableArray(),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static (GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> Diagnostics) Run(params AdditionalText[] files)
    {
        var driver = Driver(files).RunGeneratorsAndUpdateCompilation(EmptyCompilation(), out var output, out var diagnostics);
        return (driver.GetRunResult(), output, diagnostics);
    }

    public static string ModelFile(string name) => File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "Models", name));
}
