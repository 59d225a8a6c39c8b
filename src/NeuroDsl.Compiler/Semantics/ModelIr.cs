using System.Collections.Generic;
using NeuroDsl.Compiler.Diagnostics;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Semantics;

/// <summary>The paper a model comes from, as its <c>paper</c> line states it.</summary>
public sealed record PaperInfo(string? Title, string? Authors, long? Year);

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

    /// <summary>The lines of the file the model came from (set by the compiler driver once per file).</summary>
    public SourceLines Source { get; internal set; } = SourceLines.Empty;
}
