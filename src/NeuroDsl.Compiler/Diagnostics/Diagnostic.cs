using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace NeuroDsl.Compiler.Diagnostics;

/// <summary>A located compiler message. Plain data, so it can cross the generator's cache boundary.</summary>
public sealed record Diagnostic(string Id, string Severity, string Message, string? Note, SourceSpan Span)
{
    public bool IsError => Severity == "error";

    /// <summary>The MSBuild/CLI form: <c>path(line,col): error ND0201: message</c>, with the note on the next line.</summary>
    public override string ToString()
    {
        var head = $"{Span.File}({Span.Line},{Span.Column}): {Severity} {Id}: {Message}";
        return Note is null ? head : head + "\n    note: " + Note;
    }
}

/// <summary>Collects diagnostics for one compilation. Each stage reports through it; nothing throws.</summary>
public sealed class DiagnosticBag
{
    private readonly List<Diagnostic> _items = new();

    public IReadOnlyList<Diagnostic> Items => _items;
    public bool HasErrors => _items.Any(d => d.IsError);

    public void Error(DiagnosticCode code, SourceSpan span, string? note, params object[] args)
    {
        var message = string.Format(CultureInfo.InvariantCulture, code.Format, args);
        _items.Add(new Diagnostic(code.Id, "error", message, note, span));
    }

    public void AddRange(IEnumerable<Diagnostic> diagnostics) => _items.AddRange(diagnostics);
}

/// <summary>Thrown inside a stage to abandon the current statement after a diagnostic was reported.</summary>
internal sealed class ReportedException : System.Exception
{
}
