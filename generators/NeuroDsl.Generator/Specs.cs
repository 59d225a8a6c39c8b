namespace NeuroDsl.Generator;

/// <summary>A diagnostic as plain data: id, message and where (offsets and 0-based line positions).</summary>
public sealed record DiagnosticSpec(string Id, string Title, string Message, int Start, int Length,
    int Line, int Column, int EndLine, int EndColumn);

/// <summary>One generated source file.</summary>
public sealed record SourceSpec(string HintName, string Text);

/// <summary>
/// Everything the generator produces for one `.nd` file. Only strings and numbers: two compiles of the
/// same text give equal specs, so Roslyn's cache skips the output step when a file did not change.
/// </summary>
public sealed record FileSpec(string Path, EquatableArray<DiagnosticSpec> Diagnostics, EquatableArray<SourceSpec> Sources,
    EquatableArray<string> ModelNames);
