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

/// <summary>MSBuild's view for the generator: global properties (build_property.X) and per-file item metadata.</summary>
public sealed class TestOptionsProvider : AnalyzerConfigOptionsProvider
{
    private readonly Options _global;
    private readonly System.Collections.Generic.Dictionary<string, Options> _files = new();

    public TestOptionsProvider(System.Collections.Generic.IDictionary<string, string>? global = null,
        System.Collections.Generic.IDictionary<string, System.Collections.Generic.IDictionary<string, string>>? files = null)
    {
        _global = new Options(global);
        foreach (var (path, values) in files ?? new System.Collections.Generic.Dictionary<string, System.Collections.Generic.IDictionary<string, string>>())
            _files[path] = new Options(values);
    }

    public override AnalyzerConfigOptions GlobalOptions => _global;
    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;
    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => _files.TryGetValue(textFile.Path, out var o) ? o : Options.Empty;

    private sealed class Options(System.Collections.Generic.IDictionary<string, string>? values) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new(null);

        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
        {
            value = null;
            return values is not null && values.TryGetValue(key, out value);
        }
    }
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

    public static GeneratorDriver Driver(params AdditionalText[] files) => Driver(null, files);

    public static GeneratorDriver Driver(AnalyzerConfigOptionsProvider? options, params AdditionalText[] files) =>
        CSharpGeneratorDriver.Create(
            new[] { new NeuroDslGenerator().AsSourceGenerator() },
            files.ToImmutableArray(),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            optionsProvider: options,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static (GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> Diagnostics) Run(params AdditionalText[] files) =>
        Run(null, files);

    public static (GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> Diagnostics) Run(
        AnalyzerConfigOptionsProvider? options, params AdditionalText[] files)
    {
        var driver = Driver(options, files).RunGeneratorsAndUpdateCompilation(EmptyCompilation(), out var output, out var diagnostics);
        return (driver.GetRunResult(), output, diagnostics);
    }

    public static string ModelFile(string name) => File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "Models", name));
}
