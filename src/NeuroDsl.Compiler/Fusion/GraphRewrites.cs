using System.Collections.Generic;
using System.Linq;
using NeuroDsl.Compiler.Ir;

namespace NeuroDsl.Compiler.Fusion;

/// <summary>What the rewrites before differentiation (<see cref="AttentionFuser"/>, <see cref="BiasFolder"/>) ask of a graph.</summary>
internal static class GraphRewrites
{
    /// <summary>How many nodes read each value (a node reading it twice counts once).</summary>
    public static Dictionary<int, int> ReaderCounts(Graph graph)
    {
        var readers = new Dictionary<int, int>();
        foreach (var node in graph.Nodes)
            foreach (var input in node.Inputs.Distinct())
                readers[input] = readers.TryGetValue(input, out var c) ? c + 1 : 1;
        return readers;
    }

    /// <summary>The values the caller reads (the outputs and the loss): a rewrite leaves them where they are.</summary>
    public static HashSet<int> Pinned(Graph graph)
    {
        var pinned = new HashSet<int>(graph.Outputs.Select(o => o.Value));
        if (graph.LossId is { } loss) pinned.Add(loss);
        return pinned;
    }
}
