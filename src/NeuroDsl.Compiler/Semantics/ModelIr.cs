using System.Collections.Generic;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>The paper a model comes from, as its <c>paper</c> line states it.</summary>
public sealed record PaperInfo(string? Title, string? Authors, long? Year);

/// <summary>The token counts D whose training compute 6·N·D a summary reports, in the order of the expect lines.</summary>
public sealed record ComputeReport(IReadOnlyList<double> Tokens);

/// <summary>
/// One <c>expect</c> line the compiler checked and found to hold: the paper's figure (as the line states it, with its
/// tolerance) beside the figure computed from the model. A line that does not hold is a compile error instead.
/// </summary>
public sealed record ExpectCheck(int Line, string Subject, string Paper, string Computed);

/// <summary>A bound model: its graph with static shapes, metadata and the size symbols it takes.</summary>
public sealed class ModelIr
{
    public ModelIr(string name, PaperInfo paper, Graph graph, IReadOnlyList<string> symbols, SourceSpan span)
    {
        Name = name;
        Paper = paper;
        Graph = graph;
        Symbols = symbols;
        Span = span;
    }

    public string Name { get; }
    public PaperInfo Paper { get; }
    public Graph Graph { get; }

    /// <summary>Size symbols in order of first use (<c>N</c> first when present).</summary>
    public IReadOnlyList<string> Symbols { get; }

    public SourceSpan Span { get; }

    /// <summary>
    /// Training compute the model's <c>expect training_flops(tokens: D)</c> and <c>expect optimal_tokens</c> lines ask
    /// for (null without them): the summary reports it for those token counts.
    /// </summary>
    public ComputeReport? Compute { get; internal init; }

    /// <summary>The expect lines, in file order, with the figures they compared (for model cards and reports).</summary>
    public IReadOnlyList<ExpectCheck> Expects { get; internal init; } = System.Array.Empty<ExpectCheck>();

    /// <summary>The lines of the file the model came from (set by the compiler driver once per file).</summary>
    public SourceLines Source { get; internal set; } = SourceLines.Empty;
}
