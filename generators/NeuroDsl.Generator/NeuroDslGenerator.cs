using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using NeuroDsl.Compiler;

namespace NeuroDsl.Generator;

/// <summary>
/// Compiles every <c>*.nd</c> AdditionalFile into a C# model class. The whole compile happens inside one
/// cached Select whose output (<see cref="FileSpec"/>) is equatable; the output step only reports and adds.
/// Never throws and never touches the disk.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class NeuroDslGenerator : IIncrementalGenerator
{
    /// <summary>The tracking name of the compile step, for incrementality tests.</summary>
    public const string CompileStep = "NeuroDslCompile";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // The namespace of a file's classes: its item's Namespace metadata (<AdditionalFiles Update="x.nd" Namespace="A.B" />),
        // else the NeuroDslNamespace property, else RootNamespace, else NeuroDsl.Models. A value that is not a namespace
        // is a diagnostic, and the next one in that order is used.
        var files = context.AdditionalTextsProvider
            .Where(t => t.Path.EndsWith(".nd", StringComparison.OrdinalIgnoreCase))
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Select((input, ct) => (Path: input.Left.Path, Text: input.Left.GetText(ct)?.ToString(),
                Namespace: ChooseNamespace(input.Right.GetOptions(input.Left), input.Right.GlobalOptions)));

        var compiled = files
            .Select((input, _) => Compile(input.Path, input.Text, input.Namespace.Name, input.Namespace.Rejected))
            .WithTrackingName(CompileStep);

        context.RegisterSourceOutput(compiled, Emit);

        // A model name must be unique across files: both classes would land in one namespace.
        var names = compiled.Select((f, _) => (f.Path, f.ModelNames)).Collect();
        context.RegisterSourceOutput(names, ReportDuplicateModels);
    }

    /// <summary>The namespace for one file, and the first setting that was not a namespace (null when none).</summary>
    internal static (string Name, string? Rejected) ChooseNamespace(AnalyzerConfigOptions file, AnalyzerConfigOptions global)
    {
        string? rejected = null;
        foreach (var (options, key) in new[]
                 {
                     (file, "build_metadata.AdditionalFiles.Namespace"),
                     (global, "build_property.NeuroDslNamespace"),
                     (global, "build_property.RootNamespace"),
                 })
        {
            if (!options.TryGetValue(key, out var value) || string.IsNullOrWhiteSpace(value)) continue;
            value = value.Trim();
            if (IsNamespace(value)) return (value, rejected);
            // RootNamespace defaults to the project's name, which may not be a namespace (my-app): quietly skipped.
            if (!key.EndsWith("RootNamespace", StringComparison.Ordinal))
                rejected ??= key.Substring(key.LastIndexOf('.') + 1) + " '" + value + "'";
        }
        return (NeuroCompiler.DefaultNamespace, rejected);
    }

    internal static FileSpec Compile(string path, string? text, string ns, string? rejectedNamespace = null)
    {
        try
        {
            if (text is null)
                return Failed(path, "ND0999", "Internal compiler error", "Internal compiler error: the file could not be read");
            LoadSprache();
            var result = NeuroCompiler.Compile(System.IO.Path.GetFileName(path), text, ns, sourcePath: path);
            var nsDiagnostic = rejectedNamespace is null
                ? Enumerable.Empty<DiagnosticSpec>()
                : new[] { new DiagnosticSpec("ND0403", Title("ND0403"), string.Format(System.Globalization.CultureInfo.InvariantCulture,
                    NeuroDsl.Compiler.Diagnostics.Codes.InvalidNamespace.Format, rejectedNamespace, ns), 0, 0, 0, 0, 0, 0) };
            var diagnostics = nsDiagnostic.Concat(result.Diagnostics.Select(d => new DiagnosticSpec(d.Id, Title(d.Id),
                d.Note is null ? d.Message : d.Message + " — " + d.Note,
                d.Span.Start, d.Span.Length, d.Span.Line - 1, d.Span.Column - 1,
                EndLine(text, d.Span.Start + d.Span.Length, d.Span.Line - 1), EndColumn(text, d.Span.Start + d.Span.Length, d.Span.Column - 1 + d.Span.Length))));
            var stem = Sanitize(System.IO.Path.GetFileNameWithoutExtension(path));
            var sources = result.Models.Select(m => new SourceSpec(stem + "." + m.Name + ".g.cs", m.CSharp));
            return new FileSpec(path, new EquatableArray<DiagnosticSpec>(diagnostics), new EquatableArray<SourceSpec>(sources),
                new EquatableArray<string>(result.Models.Select(m => m.Name)));
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException && e.Message.Contains("Sprache"))
        {
            // The generator was loaded from its DLL without its one dependency: say which reference is missing.
            return Failed(path, "ND0999", "Internal compiler error", "NeuroDsl.Generator.dll needs Sprache.dll, which ships beside "
                + "it, as an analyzer too: add <Analyzer Include=\"…/Sprache.dll\" /> next to <Analyzer Include=\"…/NeuroDsl.Generator.dll\" /> "
                + "(the NeuroDsl package and a ProjectReference with OutputItemType=\"Analyzer\" pass both); "
                + e.Message.Split('\r', '\n')[0]);
        }
        catch (Exception e)
        {
            return Failed(path, "ND0999", "Internal compiler error", "Internal compiler error: " + e.Message);
        }
    }

    /// <summary>Loads the parser library here, where its absence can be named (the compiler would report it as any failure).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void LoadSprache() => GC.KeepAlive(typeof(Sprache.Parse));

    private static FileSpec Failed(string path, string id, string title, string message) =>
        new(path, new EquatableArray<DiagnosticSpec>(new[] { new DiagnosticSpec(id, title, message, 0, 0, 0, 0, 0, 0) }),
            new EquatableArray<SourceSpec>(Array.Empty<SourceSpec>()), new EquatableArray<string>(Array.Empty<string>()));

    private static void Emit(SourceProductionContext context, FileSpec file)
    {
        foreach (var d in file.Diagnostics) context.ReportDiagnostic(ToRoslyn(file.Path, d));
        foreach (var source in file.Sources)
        {
            try
            {
                context.AddSource(source.HintName, SourceText.From(source.Text, Encoding.UTF8));
            }
            catch (ArgumentException e)
            {
                context.ReportDiagnostic(ToRoslyn(file.Path, new DiagnosticSpec("ND0999", "Internal compiler error",
                    "Internal compiler error: " + e.Message, 0, 0, 0, 0, 0, 0)));
            }
        }
    }

    private static void ReportDuplicateModels(SourceProductionContext context,
        System.Collections.Immutable.ImmutableArray<(string Path, EquatableArray<string> ModelNames)> files)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, names) in files.OrderBy(f => f.Path, StringComparer.Ordinal))
            foreach (var name in names)
            {
                if (seen.TryGetValue(name, out var first))
                    context.ReportDiagnostic(ToRoslyn(path, new DiagnosticSpec("ND0402", "Duplicate model",
                        $"Rename model '{name}': another file or model already uses the name — first defined in {System.IO.Path.GetFileName(first)}",
                        0, 0, 0, 0, 0, 0)));
                else seen[name] = path;
            }
    }

    private static Diagnostic ToRoslyn(string path, DiagnosticSpec d)
    {
        var descriptor = new DiagnosticDescriptor(d.Id, d.Title, "{0}", "NeuroDsl", DiagnosticSeverity.Error, isEnabledByDefault: true);
        var location = Location.Create(path, new TextSpan(d.Start, d.Length),
            new LinePositionSpan(new LinePosition(d.Line, d.Column), new LinePosition(d.EndLine, d.EndColumn)));
        return Diagnostic.Create(descriptor, location, d.Message);
    }

    private static string Title(string id) =>
        NeuroDsl.Compiler.Diagnostics.Codes.All.FirstOrDefault(c => c.Id == id)?.Title ?? "NeuroDsl";

    private static int EndLine(string text, int end, int fallback)
    {
        if (end > text.Length) return fallback;
        var line = 0;
        for (var i = 0; i < end; i++) if (text[i] == '\n') line++;
        return line;
    }

    private static int EndColumn(string text, int end, int fallback)
    {
        if (end > text.Length) return fallback;
        var lineStart = text.LastIndexOf('\n', Math.Max(0, end - 1));
        return end - (lineStart < 0 || end == 0 ? 0 : lineStart + 1);
    }

    private static bool IsNamespace(string value) =>
        value.Length > 0 && value.Split('.').All(part => part.Length > 0 && (char.IsLetter(part[0]) || part[0] == '_')
            && part.All(c => char.IsLetterOrDigit(c) || c == '_'));

    private static string Sanitize(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s) sb.Append(char.IsLetterOrDigit(c) || c == '_' ? c : '_');
        return sb.Length == 0 ? "model" : sb.ToString();
    }
}
